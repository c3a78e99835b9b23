#!/usr/bin/env bash
# Builds the Debian package tirai (cmake/Packaging.cmake): configures and
# builds the build folder (build/, as tools/build.sh does, or
# $TIRAI_BUILD_DIR), runs CPack, and prints the .deb's path, alone on
# standard output (everything else goes to standard error). Then runs
# lintian on it when lintian is installed, and fails on its errors and
# warnings.
#
#   tools/package.sh                            # build/tirai_<version>_<arch>.deb
#   TIRAI_BUILD_DIR=/tmp/pkg tools/package.sh   # another folder
#   TIRAI_LINTIAN=0 tools/package.sh            # skip lintian
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${TIRAI_BUILD_DIR:-build}
log() { echo "package: $*" >&2; }

# A sanitizer build must never be packaged, and reconfiguring its folder
# without the sanitizers would throw away its objects: refuse.
if grep -qs '^TIRAI_SANITIZE:BOOL=ON' "$dir/CMakeCache.txt"; then
  log "$dir is a TIRAI_SANITIZE build; point TIRAI_BUILD_DIR at a release build folder"
  exit 1
fi

# The flags of tools/build.sh, so that packaging from build/ reconfigures
# nothing there.
log "configuring $dir"
cmake -S . -B "$dir" -DTIRAI_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
log "building the packaged files"
cmake --build "$dir" -j "$(nproc)" --target tirai_package_files >&2

# CPack installs into its own staging folder (DESTDIR) and writes the .deb
# to $dir/deb; earlier packages go first, so that the one printed is this one.
out=$dir/deb
rm -f "$out"/*.deb
log "running cpack"
cpack -G DEB --config "$dir/CPackConfig.cmake" -B "$out" >&2
debs=("$out"/*.deb)
if [ "${#debs[@]}" -ne 1 ] || [ ! -f "${debs[0]}" ]; then
  log "cpack wrote no single .deb in $out"
  exit 1
fi
deb=$(realpath "${debs[0]}")

if [ "${TIRAI_LINTIAN:-1}" != 0 ]; then
  if command -v lintian > /dev/null; then
    log "lintian $deb"
    # Informational tags are shown too; errors and warnings fail the build
    # (overrides, each explained: tools/debian/lintian-overrides).
    lintian --info --display-info --fail-on error,warning "$deb" >&2
    log "lintian: clean"
  else
    log "lintian is not installed: the package was not checked (apt-get install lintian)"
  fi
fi

echo "$deb"
