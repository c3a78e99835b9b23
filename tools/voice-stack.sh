#!/usr/bin/env bash
# Starts the voice neighbours of a tiraid: rtpengine (media, userspace),
# Kamailio (SIP: the carrier's trunk and the talents) and, when the config
# has [calls] enabled, coturn, all on one address (loopback by default), set
# up from the tiraid config given. Prints where each listens, one per line:
#
#   sip=127.0.0.1:PORT          the carrier's trunk side (calls into proxy numbers)
#   talent_sip=127.0.0.1:PORT   the talents' side (REGISTER, calls back)
#   talent_ws=ws://127.0.0.1:PORT  the same for the consoles, SIP over WebSocket
#                               (the port of phone.sip_ws_urls' first ws:// URL
#                               when it names one, else a free one)
#   rpc=127.0.0.1:PORT          Kamailio's JSON-RPC (tiraid's phone.kamailio_rpc)
#   rtpengine=127.0.0.1:PORT    rtpengine's ng control port
#   turn=127.0.0.1:PORT         coturn (with [calls] only)
#   sip_secret_file=PATH        the talents' SIP password secret (auth_ephemeral;
#                               phone.sip_secret_file unless --sip-secret-file)
#   ready
#
# and runs until SIGTERM or SIGINT, which stops them all. The tests use it;
# an operator can read it as the recipe: the same docs/kamailio.cfg with a
# tirai-local.cfg of defines, rtpengine's flags, coturn's config from
# docs/turnserver.conf.
#
#   tools/voice-stack.sh --config tirai.toml [--dir DIR] [--address IP]
#                        [--carrier HOST:PORT] [--sip-secret-file PATH] [--rtp-ports N]
#
# --carrier: where calls back go (the carrier's trunk; default the sip= side
# itself, which refuses them). --rtp-ports: how many ports rtpengine may use
# (four a call; default 200). --dir: where the generated files and logs go
# (default a new temporary folder, removed at the end).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
config="" dir="" address=127.0.0.1 carrier="" sip_secret_file="" rtp_ports=200
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --address) address=$2; shift 2 ;;
    --carrier) carrier=$2; shift 2 ;;
    --sip-secret-file) sip_secret_file=$2; shift 2 ;;
    --rtp-ports) rtp_ports=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "voice-stack: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$config" ] || { echo "voice-stack: --config PATH (a tiraid config) is required" >&2; exit 2; }
[ -r "$config" ] || { echo "voice-stack: cannot read $config" >&2; exit 2; }
for program in kamailio rtpengine python3; do
  command -v "$program" > /dev/null || { echo "voice-stack: $program is not installed (tools/install-deps.sh)" >&2; exit 1; }
done

own_dir=0
if [ -z "$dir" ]; then
  dir=$(mktemp -d /tmp/tirai-voice.XXXXXX)
  own_dir=1
fi
mkdir -p "$dir"
chmod 700 "$dir"

# What the tiraid config says of the seam, the RPC port and coturn; secrets
# tiraid would create on first start are created here the same way (0600,
# one line), so that both sides read the same files whichever starts first.
eval "$(python3 - "$config" "$address" "$sip_secret_file" "$rtp_ports" <<'PY'
import os, secrets, shlex, socket, sys, tomllib
path, address, sip_secret_file, rtp_ports = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with open(path, 'rb') as f:
    c = tomllib.load(f)
base = os.path.dirname(os.path.abspath(path))
phone, calls = c.get('phone', {}), c.get('calls', {})
def file(p, default):
    p = p or default
    return p if os.path.isabs(p) else os.path.join(base, p)
def secret(p):
    if not os.path.exists(p):
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (secrets.token_urlsafe(24) + '\n').encode())
        os.close(fd)
    return p
# Every port chosen stays bound until all are chosen, and no number is
# taken twice, UDP or TCP: Kamailio's routes tell its listeners apart by
# port number alone.
held = []
def free_port(kind=socket.SOCK_STREAM):
    while True:
        s = socket.socket(socket.AF_INET, kind)
        s.bind((address, 0))
        port = s.getsockname()[1]
        held.append(s)
        if sum(1 for h in held if h.getsockname()[1] == port) == 1:
            return port
def split(hostport, default):
    host, _, port = (hostport or default).rpartition(':')
    return host, int(port)
out = {}
out['seam_host'], out['seam_port'] = split(phone.get('listen'), '127.0.0.1:8083')
out['rpc_host'], out['rpc_port'] = split(phone.get('kamailio_rpc'), '127.0.0.1:5071')
out['seam_secret_file'] = secret(file(phone.get('seam_secret_file'), 'phone-seam.secret'))
out['sip_secret_file'] = secret(file(sip_secret_file or phone.get('sip_secret_file'), 'sip.secret'))
out['carrier_port'] = free_port(socket.SOCK_DGRAM)
out['talent_port'] = free_port(socket.SOCK_DGRAM)
ws = next((u for u in phone.get('sip_ws_urls', []) if u.startswith('ws://')), '')
ws_port = ws[len('ws://'):].split('/')[0].rpartition(':')[2] if ws else ''
out['talent_ws_port'] = int(ws_port) if ws_port.isdigit() else free_port()
# The one page that may open SIP over WebSocket: the talent console's origin.
relay = c.get('relay', {})
scheme = 'https' if c.get('tls', {}).get('cert') else 'http'
out['talent_origin'] = relay.get('public_url') or f"{scheme}://{relay.get('listen', '127.0.0.1:8080')}"
out['ng_port'] = free_port(socket.SOCK_DGRAM)
# rtpengine's RTP ports: a random block of rtp_ports (two per call side),
# away from the ports just chosen (which the kernel gives from 32768 up).
out['rtp_min'] = 2000 + rtp_ports * secrets.randbelow(max(1, (30000 - 2000) // rtp_ports - 1))
out['calls'] = 1 if calls.get('enabled') else 0
if calls.get('enabled'):
    url = calls['turn_urls'][0]
    hostport = url.split(':', 1)[1].split('?')[0]
    out['turn_host'], out['turn_port'] = split(hostport, '')
    out['turn_secret_file'] = secret(file(calls.get('turn_secret_file'), 'turn.secret'))
    out['turn_password_file'] = secret(file(calls.get('turn_admin_password_file'), 'turn-admin.password'))
    out['turn_cli_host'], out['turn_cli_port'] = split(calls.get('turn_admin'), '127.0.0.1:5766')
for k, v in out.items():
    print(f'{k}={shlex.quote(str(v))}')
PY
)"
[ -n "$carrier" ] || carrier="$address:$carrier_port"

pids=()
stop() {
  trap - TERM INT EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
  [ "$own_dir" = 1 ] && rm -rf "$dir"
  exit 0
}
trap stop TERM INT EXIT

fail() {
  echo "voice-stack: $1" >&2
  for log in "$dir"/*.log; do
    [ -f "$log" ] && { echo "--- $log" >&2; tail -n 30 "$log" >&2; }
  done
  stop
}

# Waits until `check` succeeds (a listener is up), or fails after 10 s.
wait_for() {
  local what=$1; shift
  for _ in $(seq 1 200); do
    if "$@" 2> /dev/null; then return 0; fi
    sleep 0.05
  done
  fail "$what did not start"
}
tcp_open() { (exec 3<> "/dev/tcp/$1/$2") 2> /dev/null; }
# rtpengine answers an ng "ping" with "pong" (bencoded, after a cookie).
ng_ping() {
  python3 - "$address" "$ng_port" << 'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.2)
s.sendto(b'c1 d7:command4:pinge', (sys.argv[1], int(sys.argv[2])))
sys.exit(0 if b'pong' in s.recv(1000) else 1)
PY
}

# rtpengine: docs/rtpengine.conf as shipped (userspace only, no recording),
# with this stack's address and ports.
python3 - "$here/docs/rtpengine.conf" "$address" "$address:$ng_port" "$rtp_min" "$((rtp_min + rtp_ports - 1))" \
  > "$dir/rtpengine.conf" << 'PY'
import sys
shipped, interface, ng, low, high = sys.argv[1:]
set_ = {'interface': interface, 'listen-ng': ng, 'port-min': low, 'port-max': high}
seen = set()
for line in open(shipped):
    key = line.split('=', 1)[0].strip()
    if '=' in line and not line.startswith('#') and key in set_:
        seen.add(key)
        line = f'{key} = {set_[key]}\n'
    sys.stdout.write(line)
missing = set(set_) - seen
if missing:
    sys.exit(f'docs/rtpengine.conf has no {", ".join(sorted(missing))} line any more: update voice-stack.sh')
PY
rtpengine --config-file="$dir/rtpengine.conf" --config-section=rtpengine --foreground --log-stderr \
  --pidfile="$dir/rtpengine.pid" > "$dir/rtpengine.log" 2>&1 &
pids+=($!)
wait_for rtpengine ng_ping

# Kamailio: docs/kamailio.cfg as shipped, with this stack's defines.
cp "$here/docs/kamailio.cfg" "$dir/kamailio.cfg"
umask 077
cat > "$dir/tirai-local.cfg" << EOF
#!define SIP_DOMAIN "tirai.test"
#!define CARRIER_LISTEN udp:$address:$carrier_port
#!define CARRIER_PORT $carrier_port
#!define CARRIER_IP "${carrier%:*}"
#!define CARRIER_HOST "$carrier"
#!define TALENT_LISTEN udp:$address:$talent_port
#!define TALENT_PORT $talent_port
#!define TALENT_WS_LISTEN tcp:$address:$talent_ws_port
#!define TALENT_WS_PORT $talent_ws_port
#!define TALENT_ORIGIN "$talent_origin"
#!define RPC_LISTEN tcp:$rpc_host:$rpc_port
#!define RPC_PORT $rpc_port
#!define SEAM_URL "http://$seam_host:$seam_port"
#!define SEAM_AUTH "Authorization: Bearer $(head -n 1 "$seam_secret_file")"
#!define SIP_SECRET "$(head -n 1 "$sip_secret_file")"
#!define TOPOH_KEY "$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
#!define TOPOH_IP "$address"
#!define RTPENGINE_SOCK "udp:$address:$ng_port"
#!define RING_TIMEOUT 45000
#!define TONE_FILE "$dir/tone.wav"
EOF
# The one-minute tone: two short beeps, 8 kHz mono WAV.
python3 - "$dir/tone.wav" << 'PY'
import math, struct, sys, wave
rate, samples = 8000, []
for beep in range(2):
    samples += [int(12000 * math.sin(2 * math.pi * 880 * n / rate)) for n in range(int(0.25 * rate))]
    samples += [0] * int(0.15 * rate)
with wave.open(sys.argv[1], 'wb') as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(rate)
    w.writeframes(struct.pack(f'<{len(samples)}h', *samples))
PY
kamailio -f "$dir/kamailio.cfg" -DD -E -Y "$dir" -P "$dir/kamailio.pid" -m 64 -M 8 > "$dir/kamailio.log" 2>&1 &
pids+=($!)
wait_for kamailio tcp_open "$rpc_host" "$rpc_port"

if [ "$calls" = 1 ]; then
  # coturn from docs/turnserver.conf with this stack's address, ports and
  # secrets; TLS and the port-443 listener left out (no certificate here).
  python3 - "$here/docs/turnserver.conf" "$dir" "$turn_host" "$turn_port" "$turn_cli_host" "$turn_cli_port" \
    "$(head -n 1 "$turn_secret_file")" "$(head -n 1 "$turn_password_file")" > "$dir/turnserver.conf" << 'PY'
import sys
shipped, d, host, port, cli_host, cli_port, secret, password = sys.argv[1:]
set_ = {'static-auth-secret': secret, 'cli-password': password, 'cli-ip': cli_host, 'cli-port': cli_port,
        'listening-port': port, 'listening-ip': host, 'relay-ip': host, 'allowed-peer-ip': host,
        'realm': 'tirai.test', 'log-file': 'stdout', 'userdb': f'{d}/turndb', 'pidfile': f'{d}/turn.pid'}
drop = {'external-ip', 'aux-server', 'cert', 'pkey', 'no-stdout-log', 'proc-user', 'proc-group', 'tls-listening-port'}
for line in open(shipped):
    line = line.rstrip('\n')
    if not line or line.startswith('#'):
        continue
    key = line.split('=', 1)[0]
    if key in drop:
        continue
    print(f'{key}={set_[key]}' if key in set_ else line)
print('no-tls')
PY
  sqlite3 "$dir/turndb" < /usr/share/doc/coturn/schema.sql
  turnserver -c "$dir/turnserver.conf" > "$dir/coturn.log" 2>&1 &
  pids+=($!)
  wait_for coturn tcp_open "$turn_cli_host" "$turn_cli_port"
fi

echo "sip=$address:$carrier_port"
echo "talent_sip=$address:$talent_port"
echo "talent_ws=ws://$address:$talent_ws_port"
echo "rpc=$rpc_host:$rpc_port"
echo "rtpengine=$address:$ng_port"
if [ "$calls" = 1 ]; then echo "turn=$turn_host:$turn_port"; fi
echo "sip_secret_file=$sip_secret_file"
echo "dir=$dir"
echo "ready"

# Runs until told to stop, or until one of them dies.
wait -n "${pids[@]}" || true
fail "a voice neighbour stopped on its own"
