# The Debian package `tirai`, built by CPack (tools/package.sh runs it):
# what goes where, and the package's control data. Included last from the
# top CMakeLists.txt, so that every target it installs exists.
#
# This file also runs as a script (cmake -P), for the two build steps that
# need a redirect: the packaged config and the gzipped changelog and manuals.
if(CMAKE_SCRIPT_MODE_FILE)
  # -DSTEP=example-config -DTIRAID=path -DOUT=file
  # -DSTEP=gzip -DIN=file -DOUT=file.gz
  # Each writes a temporary file first, so that a failed step leaves no
  # output behind for the next build to take as done.
  if(STEP STREQUAL "example-config")
    execute_process(COMMAND ${TIRAID} --print-example-config --state-dir /var/lib/tirai
      OUTPUT_FILE ${OUT}.tmp RESULT_VARIABLE rc)
  elseif(STEP STREQUAL "gzip")
    # -n: no name or time stamp in the header, so the same input gives the
    # same bytes (reproducible builds; lintian checks for it).
    execute_process(COMMAND gzip -9n -c ${IN} OUTPUT_FILE ${OUT}.tmp RESULT_VARIABLE rc)
  else()
    message(FATAL_ERROR "Packaging.cmake: unknown STEP '${STEP}'")
  endif()
  if(NOT rc EQUAL 0)
    file(REMOVE ${OUT}.tmp)
    message(FATAL_ERROR "Packaging.cmake: ${STEP} for ${OUT} failed: ${rc}")
  endif()
  file(RENAME ${OUT}.tmp ${OUT})
  return()
endif()

set(tirai_debian ${PROJECT_SOURCE_DIR}/tools/debian)
set(tirai_pkg ${PROJECT_BINARY_DIR}/package)

# /etc/tirai/tiraid.toml: the example config as the built tiraid prints it,
# its database, keys, token and secret files in /var/lib/tirai.
add_custom_command(
  OUTPUT ${tirai_pkg}/tiraid.toml
  COMMAND ${CMAKE_COMMAND} -E make_directory ${tirai_pkg}
  COMMAND ${CMAKE_COMMAND} -DSTEP=example-config -DTIRAID=$<TARGET_FILE:tiraid> -DOUT=${tirai_pkg}/tiraid.toml
    -P ${CMAKE_CURRENT_LIST_FILE}
  DEPENDS tiraid ${CMAKE_CURRENT_LIST_FILE}
  COMMENT "Writing the packaged config (tiraid --print-example-config --state-dir /var/lib/tirai)"
  VERBATIM)

# The Debian changelog, gzipped as policy wants; its first entry must carry
# project()'s version. tirai is a native package (its Debian files live in
# its own tree, its version has no Debian revision), so the file is
# changelog.gz, not changelog.Debian.gz.
file(STRINGS ${tirai_debian}/changelog tirai_changelog_head LIMIT_COUNT 1)
if(NOT tirai_changelog_head MATCHES "^tirai \\(${PROJECT_VERSION}\\) ")
  message(WARNING "tools/debian/changelog starts with '${tirai_changelog_head}', not version "
    "${PROJECT_VERSION} of project(): add an entry before building the package")
endif()
add_custom_command(
  OUTPUT ${tirai_pkg}/changelog.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${tirai_pkg}
  COMMAND ${CMAKE_COMMAND} -DSTEP=gzip -DIN=${tirai_debian}/changelog -DOUT=${tirai_pkg}/changelog.gz
    -P ${CMAKE_CURRENT_LIST_FILE}
  DEPENDS ${tirai_debian}/changelog ${CMAKE_CURRENT_LIST_FILE}
  VERBATIM)

set(tirai_pkg_outputs ${tirai_pkg}/tiraid.toml ${tirai_pkg}/changelog.gz)

# The manuals, when the tree builds them (target tirai_man, into
# ${PROJECT_BINARY_DIR}/man/), gzipped for /usr/share/man.
set(tirai_manuals tiraid.8 tiraictl.8 tiraid.toml.5)
if(TARGET tirai_man)
  foreach(page IN LISTS tirai_manuals)
    add_custom_command(
      OUTPUT ${tirai_pkg}/man/${page}.gz
      COMMAND ${CMAKE_COMMAND} -E make_directory ${tirai_pkg}/man
      COMMAND ${CMAKE_COMMAND} -DSTEP=gzip -DIN=${PROJECT_BINARY_DIR}/man/${page} -DOUT=${tirai_pkg}/man/${page}.gz
        -P ${CMAKE_CURRENT_LIST_FILE}
      DEPENDS tirai_man ${PROJECT_BINARY_DIR}/man/${page} ${CMAKE_CURRENT_LIST_FILE}
      VERBATIM)
    list(APPEND tirai_pkg_outputs ${tirai_pkg}/man/${page}.gz)
  endforeach()
endif()

# Part of `all`, so that a plain build followed by `cmake --install` or
# cpack finds every file; tools/package.sh builds only this target. Neither
# install nor cpack builds `all` first (which would compile the tests for a
# package that holds none): build tirai_package_files, or all, before them.
add_custom_target(tirai_package_files ALL DEPENDS ${tirai_pkg_outputs})
add_dependencies(tirai_package_files tiraid tiraictl tirai-bench)
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)

# Installed layout. Relative destinations are under the prefix CPack uses
# for .deb files (/usr); /etc and /lib are absolute, as Debian puts them.
# Directories 0755 whatever the umask of the build.
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
  OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
install(TARGETS tiraid RUNTIME DESTINATION sbin)
install(TARGETS tiraictl tirai-bench RUNTIME DESTINATION bin)
# 0640 from the start: the file gets its tirai group in postinst, and is
# never readable by others, not even between unpack and configure.
install(FILES ${tirai_pkg}/tiraid.toml DESTINATION /etc/tirai PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(FILES ${tirai_debian}/tiraid.service DESTINATION /lib/systemd/system)
install(FILES ${tirai_debian}/copyright ${tirai_pkg}/changelog.gz ${PROJECT_SOURCE_DIR}/README.md
  DESTINATION share/doc/tirai)
# The neighbours' configs in the source tree's layout (docs/, tools/), so
# that voice-stack.sh, which finds them through its own path, runs from here.
install(FILES ${PROJECT_SOURCE_DIR}/docs/kannel.conf ${PROJECT_SOURCE_DIR}/docs/turnserver.conf
  ${PROJECT_SOURCE_DIR}/docs/kamailio.cfg ${PROJECT_SOURCE_DIR}/docs/rtpengine.conf
  DESTINATION share/doc/tirai/examples/docs)
install(FILES ${PROJECT_SOURCE_DIR}/tools/voice-stack.sh DESTINATION share/doc/tirai/examples/tools)
install(FILES ${tirai_debian}/lintian-overrides DESTINATION share/lintian/overrides RENAME tirai)
if(TARGET tirai_man)
  foreach(page IN LISTS tirai_manuals)
    string(REGEX MATCH "[0-9]$" section ${page})
    install(FILES ${tirai_pkg}/man/${page}.gz DESTINATION share/man/man${section})
  endforeach()
endif()

# The package.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tirai)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "Seed fa4c3a20 maintainers")
set(CPACK_PACKAGE_CONTACT "Seed fa4c3a20 maintainers <maintainers@users.noreply.h-seed-fa4c3a20.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "pseudonymous relay messaging daemon")
set(CPACK_PACKAGE_DESCRIPTION
  "tirai relays messages, SMS and calls between a client and a talent that an
operator books into a session. Each side reaches the other through an alias
that lives as long as the session only, so neither learns the other's real
number or identity, and once the session is torn down nothing passes
between them until a new booking. tiraid serves the talent console and the
client page over WebSocket and keeps its state in SQLite, real numbers and
queued messages sealed under keys derived from its master key. It works
with Kannel for SMS, coturn for calls in the browser, and Kamailio with
rtpengine for phone calls. tiraictl is its admin client, tirai-bench a
load generator.")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_NAME tirai)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
execute_process(COMMAND dpkg --print-architecture OUTPUT_VARIABLE tirai_deb_arch OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE tirai_deb_arch_rc ERROR_QUIET)
if(tirai_deb_arch_rc EQUAL 0 AND tirai_deb_arch)
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${tirai_deb_arch})
endif()
# dpkg-shlibdeps reads the binaries' libraries; postinst adds adduser.
# (deb-systemd-helper and deb-systemd-invoke come with init-system-helpers,
# an essential package: no dependency to declare.)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
# CPack marks no conffile by itself: tools/debian/conffiles names
# /etc/tirai/tiraid.toml, so that dpkg keeps the admin's edits over an
# upgrade and a remove.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${tirai_debian}/conffiles ${tirai_debian}/postinst ${tirai_debian}/prerm ${tirai_debian}/postrm)
# The maintainer scripts 0755, conffiles 0644, whatever the checkout's modes.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
