#!/bin/bash
# Recaptures the WebRTC SDP / ICE-candidate fixtures in this directory from the
# Debian chromium and firefox-esr packages. Run as root:
#   bash tests/data/webrtc/capture.sh [OUTDIR]      (OUTDIR defaults to this directory)
# Nothing leaves the machine: everything runs in fresh network (and pid) namespaces.
#   ns "client": lo + d0 192.0.2.10/24, 2001:db8::10/64, default via 192.0.2.1 / 2001:db8::1
#   ns "turn"  : d0p 192.0.2.1/24, 198.51.100.7/24, 2001:db8::1/64; coturn on 198.51.100.7:3478
# Both namespaces are created here (veth pair between them, no forwarding, no
# route to anywhere else) and die with the pid namespace when the script ends.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ "${1:-}" != --inner ]; then
  [ "$(id -u)" = 0 ] || { echo "capture.sh: run as root (needs unshare --net)" >&2; exit 1; }
  OUT=$(mkdir -p "${1:-$HERE}" && cd "${1:-$HERE}" && pwd)
  WORK=$(mktemp -d /tmp/tirai-webrtc.XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
  # --pid/--kill-child: every process started below dies when this returns.
  unshare --net --pid --mount --mount-proc --fork --kill-child \
    bash "$HERE/capture.sh" --inner "$WORK" "$OUT"
  exit $?
fi

WORK=$2
OUT=$3
SECRET=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')

# --- network -----------------------------------------------------------------
ip link set lo up
unshare --net sleep infinity &   # holds the TURN server's namespace
TURNNS=$!
sleep 0.2
ip link add d0 type veth peer name d0p
ip link set d0p netns "$TURNNS"
ip addr add 192.0.2.10/24 dev d0
ip addr add 2001:db8::10/64 dev d0 nodad
ip link set d0 up
inturn() { nsenter -t "$TURNNS" -n "$@"; }
inturn ip link set lo up
inturn ip addr add 192.0.2.1/24 dev d0p
inturn ip addr add 198.51.100.7/24 dev d0p
inturn ip addr add 2001:db8::1/64 dev d0p nodad
inturn ip link set d0p up
ip route add default via 192.0.2.1 dev d0
ip -6 route add default via 2001:db8::1 dev d0
ip route get 198.51.100.7 >/dev/null

# --- TURN server ---------------------------------------------------------------
inturn turnserver -n --listening-ip=198.51.100.7 --listening-port=3478 \
  --relay-ip=198.51.100.7 --min-port=50000 --max-port=50100 \
  --use-auth-secret --static-auth-secret="$SECRET" --realm=tirai --fingerprint \
  --no-tls --no-dtls --no-cli --allow-loopback-peers \
  --userdb="$WORK/turndb" --pidfile="$WORK/turn.pid" --log-file=stdout \
  >"$WORK/turn.log" 2>&1 &
TURNPID=$!
for _ in $(seq 50); do
  inturn ss -lun | grep -q '198.51.100.7:3478' && break
  sleep 0.1
done
inturn ss -lun | grep -q '198.51.100.7:3478' || { cat "$WORK/turn.log"; exit 1; }

cleanup() {
  kill "$TURNPID" "$TURNNS" 2>/dev/null || true
}
trap cleanup EXIT

want() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }

server() { # label query [extra args...]
  local label=$1 query=$2
  shift 2
  node "$HERE/capture-server.mjs" --out "$OUT" --label "$label" --query "$query" \
    --turn 198.51.100.7:3478 --secret "$SECRET" "$@"
}

# --- Chromium (playwright-core) ---------------------------------------------------
chromium_run() { # label query [extra server args]
  want "$1" || return 0
  mkdir -p "$WORK/chromium-profile-$1"
  server "$1" "$2" --chromium --profile "$WORK/chromium-profile-$1" "${@:3}"
}
chromium_run chromium 'steps=all,relay,video,datachannel&src=gum'
# No capture permission (no fake-UI flag; audio track from WebAudio instead of
# getUserMedia): Chromium then hides host IPs behind mDNS names.
chromium_run chromium-mdns 'steps=all&src=webaudio' --no-media-flags

# --- Firefox ESR -------------------------------------------------------------------
firefox_run() { # label query obfuscate
  local label=$1 query=$2 obfuscate=$3 prof="$WORK/firefox-profile-$1" ffpid rc=0
  want "$label" || return 0
  mkdir -p "$prof"
  cat >"$prof/user.js" <<EOF
user_pref("media.navigator.streams.fake", true);
user_pref("media.navigator.permission.disabled", true);
user_pref("media.peerconnection.ice.obfuscate_host_addresses", $obfuscate);
user_pref("toolkit.telemetry.enabled", false);
user_pref("toolkit.telemetry.unified", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("app.update.enabled", false);
user_pref("app.update.auto", false);
user_pref("app.normandy.enabled", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("browser.aboutwelcome.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.prefetch-next", false);
EOF
  rm -f "$WORK/url"
  server "$label" "$query" --urlfile "$WORK/url" &
  local spid=$!
  for _ in $(seq 100); do [ -s "$WORK/url" ] && break; sleep 0.1; done
  MOZ_HEADLESS=1 setsid firefox-esr --headless --no-remote --profile "$prof" "$(cat "$WORK/url")" \
    >"$WORK/firefox-$label.log" 2>&1 &
  ffpid=$!
  wait "$spid" || rc=$?
  kill -- -"$ffpid" 2>/dev/null || true
  wait "$ffpid" 2>/dev/null || true
  [ "$rc" = 0 ] || { echo "firefox run $label failed; log:" >&2; tail -n 30 "$WORK/firefox-$label.log" >&2; return 1; }
}
firefox_run firefox 'steps=all,relay&src=gum' false
# Default obfuscation (true) and no getUserMedia: mDNS .local host candidates.
firefox_run firefox-mdns 'steps=all&src=webaudio' true

echo "capture.sh: done, files in $OUT"
