#!/usr/bin/env bash
# Installs the tirai .deb on this machine and checks what it did, then undoes
# all of it: files, modes and owners, the tirai account, the unit (systemd-
# analyze verify, and an exposure of at most 1.5), tiraid started by hand as
# tirai, remove keeping the state and the conffile, purge forgetting both.
# Root only; for CI, after the other tests. Fails loudly, and leaves the
# machine as it found it, also when it fails or when an earlier run died
# halfway (it starts by cleaning up after that run).
#
#   tools/test-package.sh [path/to/tirai_VERSION_ARCH.deb]   # default: built by tools/package.sh
#
# It refuses to run where a tirai it did not install is present (package,
# account or folders): that one belongs to somebody.
set -euo pipefail
cd "$(dirname "$0")/.."

max_exposure=1.5
# Written before the first change to the machine, removed by the cleanup:
# its presence says that whatever tirai is here, an earlier run of this
# script left it.
marker=/var/tmp/tirai-test-package.marker

say() { echo "test-package: $*"; }
fail() {
  echo "test-package: FAIL: $*" >&2
  exit 1
}
ok() { echo "test-package: ok   $*"; }

[ "$(id -u)" -eq 0 ] || fail "run as root: it installs and purges a package and adds a system account"
export DEBIAN_FRONTEND=noninteractive

installed() { dpkg-query -W -f='${Status}' tirai 2> /dev/null | grep -q ' installed$'; }
known_to_dpkg() { dpkg-query -W -f='${Status}' tirai 2> /dev/null | grep -qv 'not-installed$'; }

tiraid_pid=
work=
# Undoes what this script (or an earlier run of it) did: the package purged,
# the account gone, and what a purge that never ran would have removed,
# deb-systemd-helper's links and state included. Fails when tirai is left.
undo() {
  if [ -n "$tiraid_pid" ] && kill -0 "$tiraid_pid" 2> /dev/null; then
    kill -KILL "$tiraid_pid"
    wait "$tiraid_pid" 2> /dev/null || true
  fi
  tiraid_pid=
  if [ -n "$work" ]; then rm -rf "$work"; fi
  [ -e "$marker" ] || return 0
  if known_to_dpkg; then
    dpkg --purge tirai > /dev/null < /dev/null || echo "test-package: cleanup: dpkg --purge tirai failed" >&2
  fi
  # deluser drops the tirai group with the account, delgroup is for a
  # group left without one.
  if getent passwd tirai > /dev/null; then deluser --system --quiet tirai > /dev/null 2>&1 || true; fi
  if getent group tirai > /dev/null; then delgroup --system --quiet tirai > /dev/null 2>&1 || true; fi
  rm -rf /var/lib/tirai /etc/tirai
  rm -f /etc/systemd/system/multi-user.target.wants/tiraid.service /etc/systemd/system/tiraid.service \
    /var/lib/systemd/deb-systemd-helper-enabled/tiraid.service.dsh-also \
    /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/tiraid.service \
    /var/lib/systemd/deb-systemd-helper-masked/tiraid.service
  if getent passwd tirai > /dev/null || getent group tirai > /dev/null || known_to_dpkg; then
    echo "test-package: cleanup: tirai is still here; remove it by hand" >&2
    return 1
  fi
  rm -f "$marker"
}
finish() {
  local rc=$?
  undo || rc=1
  if [ "$rc" -eq 0 ]; then say "PASS"; else echo "test-package: FAILED (the machine is cleaned up)" >&2; fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

# An earlier run that died leaves its marker: clean up after it first.
if [ -e "$marker" ]; then
  say "an earlier run did not finish: cleaning up after it"
  undo || fail "could not clean up after the earlier run"
fi
if known_to_dpkg || getent passwd tirai > /dev/null || getent group tirai > /dev/null || [ -e /var/lib/tirai ] ||
  [ -e /etc/tirai ]; then
  fail "this machine has a tirai of its own (package, account or folders) that this script did not install; not touching it"
fi

# What systemd and deb-systemd-helper hold, to compare after the purge.
systemd_state() {
  local d
  for d in /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked; do
    if [ -d "$d" ]; then find "$d"; else echo "$d absent"; fi
  done | sort
}
systemd_before=$(systemd_state)

deb=${1:-}
if [ -z "$deb" ]; then
  say "no .deb given: building it with tools/package.sh"
  deb=$(tools/package.sh)
fi
[ -f "$deb" ] || fail "$deb: no such file"
deb=$(realpath "$deb")
say "testing $deb"
work=$(mktemp -d /tmp/tirai-test-package.XXXXXX)
touch "$marker"

# expect_stat PATH MODE OWNER:GROUP
expect_stat() {
  local got
  got=$(stat -c '%a %U:%G' "$1" 2> /dev/null) || fail "$1 is missing"
  [ "$got" = "$2 $3" ] || fail "$1 is $got, want $2 $3"
  ok "$1 $2 $3"
}
expect_gone() {
  if [ -e "$1" ] || [ -L "$1" ]; then fail "$1 is still there"; fi
  ok "$1 gone"
}

# --- install -----------------------------------------------------------------
# dpkg -i, not apt: the dependencies must be there already (CI installs them
# with tools/install-deps.sh), so that a missing one shows here.
dpkg -i "$deb" < /dev/null || fail "dpkg -i $deb failed (missing dependencies? dpkg-deb -f $deb Depends)"
installed || fail "tirai is not installed after dpkg -i"
ok "dpkg -i"

# --- files ---------------------------------------------------------------------
expect_stat /usr/sbin/tiraid 755 root:root
expect_stat /usr/bin/tiraictl 755 root:root
expect_stat /usr/bin/tirai-bench 755 root:root
/usr/sbin/tiraid --version > /dev/null || fail "the installed tiraid does not run (its libraries?)"
ok "tiraid --version: $(/usr/sbin/tiraid --version)"
expect_stat /etc/tirai 755 root:root
expect_stat /etc/tirai/tiraid.toml 640 root:tirai
expect_stat /var/lib/tirai 700 tirai:tirai
expect_stat /lib/systemd/system/tiraid.service 644 root:root
for f in copyright changelog.gz README.md examples/docs/kannel.conf examples/docs/turnserver.conf \
  examples/docs/kamailio.cfg examples/docs/rtpengine.conf examples/tools/voice-stack.sh; do
  expect_stat "/usr/share/doc/tirai/$f" 644 root:root
done
expect_stat /usr/share/lintian/overrides/tirai 644 root:root
dpkg-query -W -f='${Conffiles}\n' tirai | grep -q '^ /etc/tirai/tiraid.toml ' ||
  fail "/etc/tirai/tiraid.toml is not a conffile: $(dpkg-query -W -f='${Conffiles}' tirai)"
ok "/etc/tirai/tiraid.toml is a conffile"
# The files tiraid keeps are named by absolute paths in /var/lib/tirai.
grep -Eq '^path = "/var/lib/tirai/' /etc/tirai/tiraid.toml ||
  fail "the packaged config does not keep the database in /var/lib/tirai: $(grep -E '^path' /etc/tirai/tiraid.toml)"
ok "the packaged config keeps its files in /var/lib/tirai"

manuals=(/usr/share/man/man8/tiraid.8.gz /usr/share/man/man8/tiraictl.8.gz /usr/share/man/man5/tiraid.toml.5.gz)
for m in "${manuals[@]}"; do
  expect_stat "$m" 644 root:root
  gzip -t "$m" || fail "$m is not a good gzip file"
done
# Each reads as a manual, and tiraid.toml(5) has every section of the config.
for page in tiraid tiraictl tiraid.toml; do
  man "$page" > /dev/null 2>&1 || fail "man $page does not open"
done
for section in relay admin tls store keys sessions policy sms calls phone log packages.NAME; do
  man tiraid.toml 2> /dev/null | grep -q "^   \[$section\]" || fail "man tiraid.toml has no [$section]"
done
ok "man tiraid, man tiraictl, man tiraid.toml"

# --- the account ---------------------------------------------------------------
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd tirai) || fail "no tirai user"
group_gid=$(getent group tirai | cut -d: -f3) || fail "no tirai group"
[ "$gid" = "$group_gid" ] || fail "tirai's primary group is $gid, not tirai ($group_gid)"
[ "$uid" -lt 1000 ] || fail "tirai (uid $uid) is not a system account"
[ "$shell" = /usr/sbin/nologin ] || fail "tirai's shell is $shell, not /usr/sbin/nologin"
[ "$home" = /var/lib/tirai ] || fail "tirai's home is $home, not /var/lib/tirai"
ok "system user tirai (uid $uid), group tirai ($gid), home $home, shell $shell"

# postinst again, as a second configure would run it (with the variables
# dpkg sets, which deb-systemd-helper looks for): nothing breaks, nothing
# changes.
DPKG_MAINTSCRIPT_PACKAGE=tirai DPKG_MAINTSCRIPT_NAME=postinst \
  /var/lib/dpkg/info/tirai.postinst configure "$(dpkg-query -W -f='${Version}' tirai)" < /dev/null ||
  fail "running postinst configure a second time failed"
expect_stat /etc/tirai/tiraid.toml 640 root:tirai
expect_stat /var/lib/tirai 700 tirai:tirai
ok "postinst is idempotent"

# deb-systemd-helper enabled the unit (no systemd runs here: links only).
[ -L /etc/systemd/system/multi-user.target.wants/tiraid.service ] || fail "tiraid.service is not enabled"
ok "tiraid.service enabled"

# --- the config as tirai reads it ------------------------------------------------
runuser -u tirai -- /usr/sbin/tiraid --check-config /etc/tirai/tiraid.toml > "$work/check.out" 2> "$work/check.err" ||
  fail "tiraid --check-config /etc/tirai/tiraid.toml as tirai: $(cat "$work/check.err")"
if grep -qi 'warn' "$work/check.err"; then fail "tiraid --check-config warns: $(cat "$work/check.err")"; fi
grep -q '^path = "/var/lib/tirai/tirai.db"$' "$work/check.out" || fail "the packaged config's database is not in /var/lib/tirai"
ok "tiraid --check-config as tirai: $(tail -n 1 "$work/check.err")"
# As the unit's ExecStartPre= runs it: nothing but problems in the journal.
quiet=$(runuser -u tirai -- /usr/sbin/tiraid --check-config /etc/tirai/tiraid.toml --quiet 2>&1) ||
  fail "tiraid --check-config --quiet: $quiet"
[ -z "$quiet" ] || fail "tiraid --check-config --quiet printed: $quiet"

# --- the unit --------------------------------------------------------------------
unit=/lib/systemd/system/tiraid.service
# verify runs man for each man: page in Documentation=.
command -v man > /dev/null || fail "man (man-db) is not installed: run tools/install-deps.sh"
verify_out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify $unit: $verify_out"
[ -z "$verify_out" ] || fail "systemd-analyze verify $unit is not clean: $verify_out"
ok "systemd-analyze verify $unit: clean"
security=$(systemd-analyze security --offline=yes "$unit" 2>&1) || fail "systemd-analyze security: $security"
exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<< "$security")
[ -n "$exposure" ] || fail "no overall exposure in: $security"
awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e <= m) }' ||
  fail "tiraid.service exposure $exposure is above $max_exposure: $(grep '✗' <<< "$security")"
ok "systemd-analyze security --offline=yes: exposure $exposure (at most $max_exposure)"

# --- tiraid started by hand as tirai ----------------------------------------------
# No systemd runs here. The conffile as installed when its listeners' ports
# are free; otherwise a copy (same files in /var/lib/tirai) with free ports,
# root's and readable by the tirai group as the conffile is.
config=/etc/tirai/tiraid.toml
if ! python3 - "$config" "$work/tiraid.toml" << 'EOF'; then
import re, socket, sys, tomllib
src, dst = sys.argv[1], sys.argv[2]
with open(src, 'rb') as f:
    cfg = tomllib.load(f)
listeners = [s for s in ('relay', 'admin', 'sms', 'phone')
             if 'listen' in cfg.get(s, {}) and (s in ('relay', 'admin') or cfg[s].get('enabled'))]
def free(host, port):
    with socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET) as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False
busy = []
for s in listeners:
    host, port = cfg[s]['listen'].rsplit(':', 1)
    if not free(host.strip('[]'), int(port)):
        busy.append(s)
if not busy:
    sys.exit(0)
print('test-package: ports in use for ' + ', '.join(s + '.listen' for s in busy) + ': starting from a copy with free ports')
def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
section, out = None, []
for line in open(src, encoding='utf-8'):
    m = re.match(r'\s*\[([^\]]+)\]', line)
    if m:
        section = m.group(1).strip()
    elif section in busy and re.match(r'\s*listen\s*=', line):
        host = cfg[section]['listen'].rsplit(':', 1)[0]
        line = f'listen = "{host}:{free_port()}"\n'
    out.append(line)
with open(dst, 'w', encoding='utf-8') as f:
    f.writelines(out)
sys.exit(1)
EOF
  chmod 0750 "$work"
  chgrp tirai "$work" "$work/tiraid.toml"
  chmod 0640 "$work/tiraid.toml"
  config=$work/tiraid.toml
fi
say "starting tiraid as tirai with $config"
# setpriv runs tiraid itself as tirai (no process in between, unlike
# runuser), so that the SIGTERM below reaches it and its exit status is its own.
coproc TIRAID {
  cd /
  exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin setpriv --reuid=tirai --regid=tirai --init-groups \
    --inh-caps=-all -- /usr/sbin/tiraid --config "$config" 2>&1
}
# shellcheck disable=SC2153 # set by coproc
tiraid_pid=$TIRAID_PID
exec {tiraid_out}<&"${TIRAID[0]}"
ready=
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ] && IFS= read -r -t "$((deadline - SECONDS))" line <&"$tiraid_out"; do
  printf '  tiraid| %s\n' "$line"
  case $line in *"ready:"*)
    ready=1
    break
    ;;
  esac
done
[ -n "$ready" ] || fail "tiraid did not say ready: within 60 s"
ok "tiraid ready as tirai"
kill -TERM "$tiraid_pid"
while IFS= read -r -t 30 line <&"$tiraid_out"; do printf '  tiraid| %s\n' "$line"; done
status=0
wait "$tiraid_pid" || status=$?
tiraid_pid=
[ "$status" -eq 0 ] || fail "tiraid exited with $status after SIGTERM"
ok "tiraid stopped on SIGTERM, status 0"

# What it keeps: the database, the master key, the admin token, all tirai's, 0600.
read -r db key token < <(python3 -c '
import sys, tomllib
c = tomllib.load(open(sys.argv[1], "rb"))
print(c["store"]["path"], c["keys"]["master_key_file"], c["admin"]["token_file"])' /etc/tirai/tiraid.toml)
for f in "$db" "$key" "$token"; do
  case $f in /var/lib/tirai/*) ;; *) fail "$f is not in /var/lib/tirai" ;; esac
  expect_stat "$f" 600 tirai:tirai
done
stray=$(find /var/lib/tirai -mindepth 1 \( ! -user tirai -o ! -group tirai -o -perm /077 \) -printf '%p %m %u:%g\n')
[ -z "$stray" ] || fail "files in /var/lib/tirai not private to tirai: $stray"
ok "everything in /var/lib/tirai is tirai's alone: $(find /var/lib/tirai -mindepth 1 -printf '%f ' )"
key_sum=$(sha256sum < "$key")

# --- remove keeps the state and the conffile --------------------------------------
dpkg -r tirai < /dev/null || fail "dpkg -r tirai failed"
dpkg-query -W -f='${Status}' tirai | grep -q 'config-files$' || fail "tirai is not in config-files state after dpkg -r"
expect_gone /usr/sbin/tiraid
expect_gone /lib/systemd/system/tiraid.service
expect_stat /etc/tirai/tiraid.toml 640 root:tirai
expect_stat /var/lib/tirai 700 tirai:tirai
for f in "$db" "$key" "$token"; do expect_stat "$f" 600 tirai:tirai; done
[ -L /etc/systemd/system/tiraid.service ] || fail "tiraid.service is not masked after remove"
ok "dpkg -r kept the state, the conffile and the account"

# An admin's edit of the conffile survives a reinstall, without a question.
echo '# an admin was here' >> /etc/tirai/tiraid.toml

# --- reinstall -----------------------------------------------------------------------
dpkg -i "$deb" < /dev/null || fail "reinstalling $deb failed"
grep -q '^# an admin was here$' /etc/tirai/tiraid.toml || fail "the reinstall lost the admin's edit of the conffile"
expect_stat /etc/tirai/tiraid.toml 640 root:tirai
[ "$(sha256sum < "$key")" = "$key_sum" ] || fail "the reinstall changed the master key"
expect_gone /etc/systemd/system/tiraid.service
[ -L /etc/systemd/system/multi-user.target.wants/tiraid.service ] || fail "tiraid.service is not enabled after the reinstall"
ok "reinstall: the admin's conffile, the master key and the account kept; the unit unmasked and enabled"

# --- purge forgets everything ------------------------------------------------------------
dpkg -P tirai < /dev/null || fail "dpkg -P tirai failed"
known_to_dpkg && fail "dpkg still knows tirai after the purge: $(dpkg-query -W -f='${Status}' tirai)"
expect_gone /var/lib/tirai
expect_gone /etc/tirai
expect_gone /etc/systemd/system/multi-user.target.wants/tiraid.service
expect_gone /etc/systemd/system/tiraid.service
expect_gone /var/lib/systemd/deb-systemd-helper-enabled/tiraid.service.dsh-also
getent passwd tirai > /dev/null || fail "the purge removed the tirai account (Debian keeps system accounts)"
systemd_after=$(systemd_state)
[ "$systemd_after" = "$systemd_before" ] ||
  fail "the purge left systemd's state changed: $(diff <(echo "$systemd_before") <(echo "$systemd_after"))"
ok "dpkg -P removed /var/lib/tirai and /etc/tirai and every unit link, and kept the account"
# The cleanup (trap) removes the account and the marker.
