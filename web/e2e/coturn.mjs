// coturn for the browser call tests and measurements: started in the network
// namespace netns.sh made for it, from the operator's own config
// (docs/turnserver.conf) with the test's addresses, ports and secrets.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from './harness.mjs';

export const HOST = '192.0.2.10'; // the pages' own address (netns.sh): must never cross
export const RELAY = '192.0.2.11'; // coturn's address and relay address: the only one that may
const COTURN_SCHEMA = '/usr/share/doc/coturn/schema.sql';

// docs/turnserver.conf as this test runs it. Every change is to a line the
// operator must fill in anyway, or to what this machine cannot have (port
// 443, a certificate, syslog, the turnserver user inside a namespace).
function operatorConfig(c) {
  const shipped = readFileSync(new URL('../../docs/turnserver.conf', import.meta.url), 'utf8');
  const set = {
    'static-auth-secret': c.secret,
    'cli-password': c.password,
    'cli-ip': RELAY,
    'cli-port': c.cliPort,
    'listening-port': c.port,
    'tls-listening-port': c.tlsPort,
    'listening-ip': RELAY,
    'relay-ip': RELAY,
    'allowed-peer-ip': RELAY,
    'realm': 'tirai.test',
    'log-file': 'stdout',
    'userdb': join(c.dir, 'turndb'),
    'pidfile': join(c.dir, 'turn.pid'),
  };
  const drop = new Set(['external-ip', 'aux-server', 'cert', 'pkey', 'no-stdout-log', 'proc-user', 'proc-group']);
  const lines = [];
  const seenKeys = new Set();
  for (const line of shipped.split('\n')) {
    const m = line.match(/^([a-z0-9-]+)(=(.*))?$/);
    if (!m) continue;
    const key = m[1];
    seenKeys.add(key);
    if (drop.has(key)) continue;
    lines.push(key in set ? `${key}=${set[key]}` : line);
  }
  for (const key of [...Object.keys(set), ...drop])
    assert.ok(seenKeys.has(key), `docs/turnserver.conf has no ${key} line any more: update this test`);
  lines.push('no-tls');
  return lines.join('\n') + '\n';
}

export class Coturn {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'tirai-turn-'));
    this.secret = randomBytes(24).toString('hex');
    this.password = randomBytes(16).toString('hex');
    this.log = '';
  }

  async start() {
    this.port = await freePort();
    this.cliPort = await freePort();
    this.tlsPort = await freePort();
    writeFileSync(join(this.dir, 'turn.secret'), this.secret + '\n', { mode: 0o600 });
    writeFileSync(join(this.dir, 'turn-admin.password'), this.password + '\n', { mode: 0o600 });
    // -n: not /etc/turnserver.conf. No --allow-loopback-peers: the peers are 192.0.2.11 itself.
    // The operator's own config (docs/turnserver.conf), with this test's
    // addresses, ports, secrets and files put in and TLS left out (no
    // certificate here): its peer rules are what let the call through.
    writeFileSync(join(this.dir, 'turnserver.conf'), operatorConfig(this), { mode: 0o600 });
    // Its user database made before it starts, as Debian's package ships one:
    // on a new file, two allocations at once race to create its tables and
    // one is refused ("database is locked", then 401).
    execFileSync('sqlite3', [join(this.dir, 'turndb')], { input: readFileSync(COTURN_SCHEMA) });
    // In a network namespace of its own (netns.sh), so that no address of the
    // pages is also the TURN server's.
    const ns = process.env.TIRAI_TURN_NETNS;
    if (!ns) throw new Error('run this suite through web/e2e/netns.sh (coturn needs a namespace of its own)');
    this.proc = spawn('nsenter', ['-t', ns, '-n', '--', '/usr/bin/turnserver', '-c', join(this.dir, 'turnserver.conf')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout.on('data', (c) => (this.log += c));
    this.proc.stderr.on('data', (c) => (this.log += c));
    // Ready once its CLI takes a login; refused connections come back at once.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.cli('pu');
        return;
      } catch (e) {
        if (attempt > 100 || this.proc.exitCode !== null) throw new Error(`coturn did not start: ${e}\n${this.log}`);
        await delay(50);
      }
    }
  }

  // One CLI command after the login; what it printed up to its prompt.
  cli(command) {
    return new Promise((resolve, reject) => {
      const s = connect(this.cliPort, RELAY);
      let text = '';
      let stage = 0;
      s.setTimeout(5000, () => s.destroy(new Error('coturn CLI timed out')));
      s.on('error', reject);
      s.on('data', (d) => {
        text += d.toString();
        if (stage === 0 && text.includes('Enter password:')) {
          stage = 1;
          text = '';
          s.write(this.password + '\r\n');
        } else if (stage === 1 && text.endsWith('> ')) {
          stage = 2;
          text = '';
          s.write(command + '\r\n');
        } else if (stage === 2 && text.endsWith('> ')) {
          s.end();
          resolve(text);
        }
      });
    });
  }

  async allocations() {
    return [...(await this.cli('ps')).matchAll(/, user <([^>]*)>:/g)].map((m) => m[1]);
  }

  // tiraid's [calls] table for this coturn; `more` adds keys to it.
  toml(more = '') {
    return (
      `[calls]\nenabled = true\nturn_urls = ["turn:${RELAY}:${this.port}?transport=udp"]\n` +
      `turn_secret_file = "${join(this.dir, 'turn.secret')}"\nturn_admin = "${RELAY}:${this.cliPort}"\n` +
      `turn_admin_password_file = "${join(this.dir, 'turn-admin.password')}"\n` +
      more
    );
  }

  stop() {
    this.proc?.kill('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

