#!/usr/bin/env bash
# Remakes tests/data/schemas/vN/ (see its README): for every schema version
# older than HEAD's, the tiraid of the last commit with that schema is built
# from git history, driven through its admin API and WebSocket protocol, and
# stopped with SIGTERM; its database, master key and a fixture.json saying
# what is inside are copied here.
#
#   tools/make-schema-fixtures.sh          # every older schema
#   tools/make-schema-fixtures.sh 3 7      # only these
#
# Builds go to $TIRAI_SCHEMA_WORK (default /tmp/tirai-schemas): one source
# tree moved from commit to commit, one build folder, and each version's
# tiraid in bin/vN/, kept between runs so a second run only drives (all
# eight took an hour on a busy 2-core machine). Needs git, cmake, the build
# dependencies of those commits (tools/install-deps.sh), node >= 20.10 and
# sqlite3.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/tests/data/schemas
work=${TIRAI_SCHEMA_WORK:-/tmp/tirai-schemas}
mkdir -p "$work" "$out"

# The number of migration steps (= schema version) at a commit.
steps_at() {
  git -C "$root" show "$1:store/migrations.cpp" |
    sed -n 's/.*std::array<std::string_view, \([0-9]*\)> steps.*/\1/p'
}

# commit_for[N]: the last commit whose schema is N, i.e. the parent of the
# first commit with N+1 steps. A step edited in place later (steps 1 and 8
# were, see the README) is taken in its last form.
declare -A commit_for
current=$(steps_at HEAD)
previous=0
while read -r c; do
  n=$(steps_at "$c")
  if [ "$n" -gt "$previous" ]; then
    [ "$previous" -gt 0 ] && commit_for[$previous]=$(git -C "$root" rev-parse "$c^")
    previous=$n
  fi
done < <(git -C "$root" log --reverse --format=%H -- store/migrations.cpp)

if [ $# -gt 0 ]; then versions=("$@"); else versions=($(seq 1 $((current - 1)))); fi

# The driver: books and chats through the old tiraid's own APIs, prints fixture.json.
cat > "$work/drive.mjs" <<'EOF'
import { readFileSync } from 'node:fs';

const [relayPort, adminPort, tokenFile, version, commit] = process.argv.slice(2);
const token = readFileSync(tokenFile, 'utf8').trim();
const admin = `http://127.0.0.1:${adminPort}`;
const v = `v${version}`;

async function must(expected, method, path, body) {
  const res = await fetch(admin + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== expected) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// One WebSocket connection whose frames are read in order, each wait with a deadline.
class Peer {
  static async open(hello) {
    const p = new Peer();
    await p.connect();
    p.send(hello);
    await p.next('welcome');
    return p;
  }
  connect() {
    this.frames = [];
    this.waiters = [];
    this.ws = new WebSocket(`ws://127.0.0.1:${relayPort}/v1/ws`);
    this.ws.onmessage = (e) => { this.frames.push(JSON.parse(e.data)); this.wake(); };
    this.ws.onclose = (e) => { this.closed = e.code; this.wake(); };
    return new Promise((resolve, reject) => {
      this.ws.onopen = resolve;
      this.ws.onerror = () => reject(new Error('websocket error'));
    });
  }
  wake() { for (const w of this.waiters.splice(0)) w(); }
  send(frame) { this.ws.send(JSON.stringify(frame)); }
  // The next frame of `type`, passing over others (replays, notices); an
  // error frame, a close or 10 s without it fails.
  async next(type) {
    const deadline = Date.now() + 10000;
    for (;;) {
      while (this.frames.length) {
        const f = this.frames.shift();
        if (f.type === type) return f;
        if (f.type === 'error') throw new Error(`waiting for ${type}: ${JSON.stringify(f)}`);
      }
      if (this.closed !== undefined) throw new Error(`closed with ${this.closed} waiting for ${type}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type} frame`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }
  async close() {
    this.ws.close(1000);
    while (this.closed === undefined) await new Promise((resolve) => this.waiters.push(resolve));
  }
}

async function send(peer, session, id, text) {
  peer.send({ type: 'send', session: session.session, id, text });
  for (;;) {
    const a = await peer.next('accepted');
    if (a.id === id) return a.seq;
  }
}
const clientHello = (s) => ({ type: 'hello', role: 'client', token: s.client_token });
const talentHello = (t) => ({ type: 'hello', role: 'talent', alias: t.alias, secret: t.secret });

const talents = [
  { alias: 'anya', secret: `anya fixture secret ${v}` },
  { alias: 'bella', secret: `bella fixture secret ${v}` },
];
const erased = { alias: 'cinta', secret: `cinta fixture secret ${v}` };
for (const t of [...talents, erased]) await must(201, 'POST', '/v1/talents', t);
await must(204, 'DELETE', `/v1/talents/${erased.alias}`);

const book = (talent, client) => must(201, 'POST', '/v1/sessions', { talent, client, package: 'fixture-10y' });
const s1 = await book('anya', '+6281100000001');
const s2 = await book('bella', '+6281100000002');
const s3 = await book('anya', '+6281100000003');

const queued = [];
const acknowledged = [];

// Session 1: a message anya read and acknowledged, one from anya the client
// has not acknowledged, then two anya has not seen.
let c1 = await Peer.open(clientHello(s1));
const read = { text: `${v}: read and acknowledged by anya` };
read.seq = await send(c1, s1, 'c1', read.text);
const anya = await Peer.open(talentHello(talents[0]));
const got = await anya.next('message');
if (got.seq !== read.seq || got.text !== read.text) throw new Error(`anya got ${JSON.stringify(got)}`);
anya.send({ type: 'ack', session: s1.session, seq: got.seq });
acknowledged.push({ session: s1.session, seq: read.seq, from: 'client', to: 'anya', text: read.text });
await c1.close();
{
  const text = `${v}: from anya, waiting for the client`;
  const seq = await send(anya, s1, 't1', text);
  queued.push({ session: s1.session, seq, from: 'anya', to: 'client', text });
}
await anya.close();
c1 = await Peer.open(clientHello(s1));
for (const [id, text] of [['c2', `${v}: first message anya has not seen`],
                          ['c3', `${v}: second message anya has not seen, ✓ ünïcode`]]) {
  const seq = await send(c1, s1, id, text);
  queued.push({ session: s1.session, seq, from: 'client', to: 'anya', text });
}
await c1.close();

// Session 2: bella has never logged in.
const c2 = await Peer.open(clientHello(s2));
{
  const text = `${v}: for bella, who has not logged in yet`;
  const seq = await send(c2, s2, 'c1', text);
  queued.push({ session: s2.session, seq, from: 'client', to: 'bella', text });
}
await c2.close();

// Session 3: ended by the operator; after the 1 s grace it is torn down.
await must(200, 'POST', `/v1/sessions/${s3.session}/end`);
let ended;
for (let i = 0; i < 100; ++i) {
  ended = await must(200, 'GET', `/v1/sessions/${s3.session}`);
  if (ended.state === 'closed') break;
  await new Promise((r) => setTimeout(r, 100));
}
if (ended.state !== 'closed') throw new Error(`session 3 is ${ended.state}`);

const sessions = [];
for (const [s, talent] of [[s1, 'anya'], [s2, 'bella']]) {
  const rec = await must(200, 'GET', `/v1/sessions/${s.session}`);
  sessions.push({ id: s.session, talent, client_alias: s.client_alias, client_token: s.client_token,
                  package: 'fixture-10y', expires_at: s.expires_at, state: rec.state, messages: rec.messages });
}

console.log(JSON.stringify({
  schema_version: Number(version),
  commit,
  made_at: new Date().toISOString(),
  talents,
  erased_talents: [erased],
  sessions,
  ended_sessions: [{ id: s3.session, talent: 'anya', client_alias: s3.client_alias, client_token: s3.client_token,
                     state: ended.state, close_reason: ended.close_reason ?? ended.reason ?? null }],
  queued_messages: queued,
  acknowledged_messages: acknowledged,
}, null, 2));
EOF

# Brings one source tree to commit $2 (git rewrites only the files that
# differ, so make rebuilds only what changed since the last version built
# there) and builds its tiraid into $work/bin/vN/.
build_at() {
  local n=$1 commit=$2 bin=$work/bin/v$1
  [ -x "$bin/tiraid" ] && [ "$(cat "$bin/commit" 2>/dev/null)" = "$commit" ] && return 0
  mkdir -p "$work/src"
  GIT_INDEX_FILE=$work/src.index git -C "$root" --work-tree="$work/src" read-tree -u --reset "$commit"
  # Commits with the web apps bundle them with esbuild from web/node_modules.
  if [ -f "$work/src/web/package.json" ] && [ ! -e "$work/src/web/node_modules" ]; then
    if [ -d "$root/web/node_modules" ]; then ln -s "$root/web/node_modules" "$work/src/web/node_modules"
    else (cd "$work/src/web" && npm ci --no-audit --no-fund > /dev/null); fi
  fi
  [ -f "$work/build/CMakeCache.txt" ] ||
    cmake -S "$work/src" -B "$work/build" -DTIRAI_TESTS=OFF -DCMAKE_BUILD_TYPE=Release > "$work/cmake.log"
  nice -n 19 cmake --build "$work/build" --target tiraid -j "${JOBS:-2}" > "$work/build-v$n.log" 2>&1 ||
    { tail -30 "$work/build-v$n.log" >&2; return 1; }
  mkdir -p "$bin"
  cp "$work/build/relay/tiraid" "$bin/tiraid"
  echo "$commit" > "$bin/commit"
}

make_fixture() {
  local n=$1 commit=${commit_for[$1]:-}
  [ -n "$commit" ] || { echo "no commit has schema $n (HEAD has $current)" >&2; return 1; }
  echo "schema $n: commit $(git -C "$root" log -1 --format='%h %s' "$commit" | cut -c1-90)"
  build_at "$n" "$commit"
  local tiraid=$work/bin/v$n/tiraid d=$work/v$n
  mkdir -p "$d"

  local run=$d/run
  rm -rf "$run" && mkdir -m 0700 "$run"
  # Only keys every old version knows; a session lasts ten years, so the
  # fixture's live sessions are still live when the test runs.
  cat > "$run/tiraid.toml" <<EOF
[relay]
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
token_file = "secrets/admin.token"
[store]
path = "data/tirai.db"
[keys]
master_key_file = "secrets/master.key"
[sessions]
grace = "1s"
[packages.fixture-10y]
channels = ["chat"]
duration = "3650d"
EOF
  chmod 600 "$run/tiraid.toml"
  "$tiraid" --config "$run/tiraid.toml" > "$run/tiraid.log" 2>&1 &
  local pid=$! ready=""
  for _ in $(seq 300); do
    ready=$(grep -o 'ready: relay 127.0.0.1:[0-9]* admin 127.0.0.1:[0-9]*' "$run/tiraid.log" || true)
    [ -n "$ready" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$ready" ] || { cat "$run/tiraid.log" >&2; kill $pid 2>/dev/null; return 1; }
  local relay_port admin_port
  relay_port=$(sed 's/.*relay 127.0.0.1:\([0-9]*\).*/\1/' <<< "$ready")
  admin_port=$(sed 's/.*admin 127.0.0.1:\([0-9]*\)/\1/' <<< "$ready")
  if ! node --no-warnings --experimental-websocket "$work/drive.mjs" "$relay_port" "$admin_port" \
      "$run/secrets/admin.token" "$n" "$commit" > "$run/fixture.json"; then
    kill $pid; wait $pid || true; cat "$run/tiraid.log" >&2; return 1
  fi
  kill -TERM $pid
  wait $pid || { echo "tiraid of schema $n exited with $?" >&2; return 1; }

  # One self-contained file: whatever is left in the WAL goes into it.
  local db=$run/data/tirai.db
  sqlite3 "$db" 'PRAGMA wal_checkpoint(TRUNCATE);' > /dev/null
  rm -f "$db-wal" "$db-shm"
  local got
  got=$(sqlite3 "$db" 'PRAGMA user_version;')
  [ "$got" = "$n" ] || { echo "schema $n: the database says user_version $got" >&2; return 1; }
  rm -f "$db-wal" "$db-shm"

  mkdir -p "$out/v$n"
  install -m 0600 "$db" "$out/v$n/tirai.db"
  install -m 0600 "$run/secrets/master.key" "$out/v$n/master.key"
  install -m 0644 "$run/fixture.json" "$out/v$n/fixture.json"
  echo "schema $n: $(du -h "$out/v$n/tirai.db" | cut -f1) written to ${out#$root/}/v$n"
}

for n in "${versions[@]}"; do make_fixture "$n"; done
