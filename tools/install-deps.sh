#!/usr/bin/env bash
# Installs every Debian package tirai needs to build and test. Idempotent:
# packages already present are skipped, so a second run costs a dpkg query.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libboost1.81-dev libboost-json1.81-dev
  libsodium-dev libsqlite3-dev libssl-dev libsystemd-dev
  libfmt-dev libspdlog-dev libtomlplusplus-dev libcli11-dev
  prometheus-cpp-dev catch2
  python3 sqlite3 openssl tzdata
  kannel kannel-extras
  coturn iproute2
  kamailio kamailio-utils-modules kamailio-autheph-modules kamailio-websocket-modules
  rtpengine-daemon sip-tester sox
  nodejs chromium
  lintian systemd man-db
  clang libclang-rt-14-dev
  libfaketime
)
# libsystemd-dev: sd_notify, so that systemd knows when tiraid is ready,
# reloading or stopping, and its watchdog hears the relay thread.
# kannel and kannel-extras (bearerbox, smsbox, fakesmsc) are for the SMS
# end-to-end tests; the tests start their own boxes on free loopback ports.
# coturn (turnserver, turnutils_uclient) is the TURN server of the call tests,
# started by them on loopback with its own settings (-n: never /etc/turnserver.conf);
# iproute2 (ip) builds the network namespaces the browser call tests run in.
# Kamailio (with http_client from -utils, auth_ephemeral from -autheph, SIP
# over WebSocket for the talent console from -websocket) and rtpengine are
# the phone-call stack, started by tools/voice-stack.sh with
# docs/kamailio.cfg; sip-tester (SIPp) plays the phones and the carrier, and
# sox makes the phone's voice from a WAV file and checks what it heard.
# lintian checks the .deb tools/package.sh builds; systemd (systemd-analyze)
# and man-db check its unit and manuals (tools/test-package.sh).
# clang and libclang-rt-14-dev (libFuzzer, the sanitizers' runtimes) build
# the fuzz targets (tests/fuzz/, tools/fuzz.sh). libfaketime steps tiraid's
# wall clock in the end-to-end test of clock steps (tests/e2e_faults_test.cpp).
# nodejs builds the web apps into tiraid (web/, its packages pinned in
# web/package-lock.json); chromium runs their tests, headless.

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
else
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's own nodejs packages npm apart; NodeSource's carries it.
if ! command -v npm > /dev/null; then
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends npm
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "install-deps: the web apps' tools need Node.js 20 or later; this machine has $(node --version)" >&2
  exit 1
fi

# The web apps' packages, exactly as web/package-lock.json pins them; again
# only when the lock file changed since the last install.
cd "$(dirname "$0")/../web"
if ! cmp -s package-lock.json node_modules/.tirai-installed-lock 2> /dev/null; then
  echo "install-deps: npm ci in web/"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.tirai-installed-lock
fi
