#!/usr/bin/env bash
# Installs every Debian package tirai needs to build and test. Idempotent:
# packages already present are skipped, so a second run costs a dpkg query.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libboost1.81-dev libboost-json1.81-dev
  libsodium-dev libsqlite3-dev libssl-dev
  libfmt-dev libspdlog-dev libtomlplusplus-dev libcli11-dev
  prometheus-cpp-dev catch2
  python3 sqlite3 openssl tzdata
  kannel kannel-extras
)
# kannel and kannel-extras (bearerbox, smsbox, fakesmsc) are for the SMS
# end-to-end tests; the tests start their own boxes on free loopback ports.

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
else
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
