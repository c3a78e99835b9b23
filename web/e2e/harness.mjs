// What the browser tests start: the real tiraid on loopback ports of its
// own, and Debian's Chromium through playwright-core. Nothing here is a
// fake: the pages are the ones built into the tiraid under test.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test as nodeTest, before, after } from 'node:test';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

// A loopback port nobody listens on now (tiraid must come back on the same
// one after a kill -9, so that the pages reconnect to their own origin).
export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export class Tiraid {
  // `extra`: TOML appended to the generated config.
  constructor(binary, extra = '') {
    if (!binary) throw new Error('TIRAID is not set: the path of the tiraid under test');
    this.binary = binary;
    this.extra = extra;
    this.dir = mkdtempSync(join(tmpdir(), 'tirai-web-'));
    this.log = '';
    this.proc = null;
  }

  async init() {
    this.relayPort = await freePort();
    this.adminPort = await freePort();
    const config = join(this.dir, 'tiraid.toml');
    writeFileSync(
      config,
      `[relay]\nlisten = "127.0.0.1:${this.relayPort}"\n` +
        `[admin]\nlisten = "127.0.0.1:${this.adminPort}"\ntoken_file = "secrets/admin.token"\n` +
        `[store]\npath = "data/tirai.db"\n[keys]\nmaster_key_file = "secrets/master.key"\n` +
        `[log]\nlevel = "debug"\n` +
        this.extra,
    );
    chmodSync(config, 0o600);
    this.config = config;
    return this;
  }

  get relay() {
    return `http://127.0.0.1:${this.relayPort}`;
  }
  get admin() {
    return `http://127.0.0.1:${this.adminPort}`;
  }
  get token() {
    return readFileSync(join(this.dir, 'secrets/admin.token'), 'utf8').trim();
  }
  dbFiles() {
    return ['tirai.db', 'tirai.db-wal', 'tirai.db-shm'].map((f) => join(this.dir, 'data', f));
  }

  // Starts tiraid and resolves at its ready line (rejects when it exits first).
  start() {
    const from = this.log.length;
    this.proc = spawn(this.binary, ['--config', this.config], { stdio: ['ignore', 'pipe', 'pipe'] });
    const proc = this.proc;
    const take = (chunk) => {
      this.log += chunk.toString();
    };
    proc.stdout.on('data', take);
    proc.stderr.on('data', take);
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.log.indexOf('ready:', from) >= 0) {
          proc.stdout.off('data', check);
          proc.stderr.off('data', check);
          proc.off('exit', exited);
          resolve(this);
        }
      };
      const exited = (code) => reject(new Error(`tiraid exited with ${code} before it was ready:\n${this.log}`));
      proc.stdout.on('data', check);
      proc.stderr.on('data', check);
      proc.once('exit', exited);
    });
  }

  // Resolves once the log (from `from` on) matches `pattern`, as its
  // output arrives; rejects after `ms` or when tiraid exits first.
  waitForLog(pattern, ms = 15_000, from = 0) {
    const proc = this.proc;
    const seen = () => pattern.test(this.log.slice(from));
    if (seen()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (error) => {
        clearTimeout(timer);
        proc.stdout.off('data', check);
        proc.stderr.off('data', check);
        proc.off('exit', exited);
        if (error) reject(error);
        else resolve();
      };
      const check = () => seen() && done();
      const exited = () => done(new Error(`tiraid exited before its log said ${pattern}`));
      const timer = setTimeout(() => done(new Error(`tiraid's log did not say ${pattern} within ${ms} ms`)), ms);
      proc.stdout.on('data', check);
      proc.stderr.on('data', check);
      proc.once('exit', exited);
    });
  }

  // SIGKILL, and resolves once the process is gone.
  kill9() {
    const proc = this.proc;
    return new Promise((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    });
  }

  // SIGTERM; resolves with the exit status (under the sanitizers, a leak
  // or an error found on the way out makes it non-zero).
  async stop() {
    const proc = this.proc;
    if (!proc) return 0;
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode ?? 128;
    const gone = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? 15 : 0))));
    proc.kill('SIGTERM');
    return gone;
  }

  cleanup() {
    rmSync(this.dir, { recursive: true, force: true });
  }

  // The admin API, as tiraictl calls it.
  async api(method, path, body) {
    const res = await fetch(this.admin + path, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }
}

// Headless Chromium as this machine runs it: as root it needs --no-sandbox,
// and on a closed network nothing of its own may reach out.
export function launchChromium(extraArgs = []) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
      ...extraArgs,
    ],
  });
}

// For calls: a fake microphone (a beep) granted without asking, and sound
// that may play without a gesture.
export const CALL_FLAGS = [
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
];

// A phone-sized context whose pages report every CSP violation and every
// request URL into `seen`.
export async function phone(browser, seen, options = {}) {
  const context = await browser.newContext({ viewport: { width: 360, height: 640 }, locale: 'en-US', ...options });
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`),
    );
  });
  context.on('request', (r) => seen.urls.push(r.url()));
  context.on('console', (m) => {
    if (/Content.Security.Policy/i.test(m.text())) seen.csp.push(m.text());
    // Chromium's own lines for a connection refused or reset while the relay
    // was killed on purpose (an operator page's poll in flight), and for an
    // API refusal the page shows (a 409 for a restricted client), are not the
    // page's errors; a 404 is.
    const expected =
      /^WebSocket connection to .* failed|^Failed to load resource: (net::ERR_CONNECTION_(REFUSED|RESET)|net::ERR_EMPTY_RESPONSE|.* status of 4(0[0-35-9]|[1-9]\d))/;
    if (m.type() === 'error' && !expected.test(m.text()))
      (seen.errors ??= []).push(`console: ${m.text()}`);
  });
  // An exception no handler caught, in any page of the context.
  context.on('weberror', (e) => (seen.errors ??= []).push(`uncaught: ${e.error()}`));
  if (process.env.TIRAI_WEB_TRACE)
    context.on('page', (page) =>
      page.on('websocket', (ws) => {
        const at = () => new Date().toISOString().slice(11, 23);
        ws.on('framesent', (f) => console.log(at(), page.url(), '>>', String(f.payload).slice(0, 200)));
        ws.on('framereceived', (f) => console.log(at(), page.url(), '<<', String(f.payload).slice(0, 200)));
        ws.on('close', () => console.log(at(), page.url(), 'ws closed'));
      }),
    );
  return context;
}

export async function cspViolations(page) {
  return page.evaluate(() => window.__csp);
}

export async function sessionStorageOf(page) {
  return page.evaluate(() => JSON.stringify(Object.entries(sessionStorage)));
}

// node:test's `test` for steps that share pages: a failing step also prints
// the pages' uncaught errors and what each page showed. `pages()` names the
// pages open now; `failed()` says whether a step failed (then print tiraid's log).
export function steps(seen, pages) {
  let failed = false;
  const test = (name, fn) =>
    nodeTest(name, async (t) => {
      try {
        await fn(t);
      } catch (e) {
        failed = true;
        if (seen.errors?.length) console.log(`--- page errors ---\n${seen.errors.join('\n')}`);
        for (const [name, page] of Object.entries(pages())) {
          if (!page || page.isClosed()) continue;
          const text = await page.locator('body').innerText({ timeout: 2000 }).catch((err) => `(unreadable: ${err})`);
          // A session link shown once on the operator page holds a token: not into CI's log.
          const hide = (s) => s.replace(/#[A-Za-z0-9_-]{20,}/g, '#<token>');
          console.log(`--- ${name} page at ${hide(page.url())} ---\n${hide(text)}`);
        }
        throw e;
      }
    });
  return { test, failed: () => failed };
}

// What every browser suite runs in: registers the hooks that start tiraid
// (its config with `extra` TOML, or what `extra()` resolves to) and Chromium
// (with `chromiumArgs` added to its flags) before the first step and stop them after the last, printing tiraid's log
// when `failed()`. The returned object holds them: { tiraid, browser }.
export function world(extra, failed, { chromiumArgs = [] } = {}) {
  const w = { tiraid: null, browser: null };
  before(async () => {
    w.tiraid = await new Tiraid(process.env.TIRAID, typeof extra === 'function' ? await extra() : extra).init();
    await w.tiraid.start();
    w.browser = await launchChromium(chromiumArgs);
  });
  after(async () => {
    await w.browser?.close();
    await w.tiraid?.stop();
    if (failed()) console.log(w.tiraid?.log);
    w.tiraid?.cleanup();
  });
  return w;
}

// For call tests: every RTCPeerConnection a page of `context` makes is kept
// in window.__pcs, for getStats().
export function keepPeerConnections(context) {
  return context.addInitScript(() => {
    const Native = window.RTCPeerConnection;
    window.__pcs = [];
    window.RTCPeerConnection = function (...args) {
      const pc = new Native(...args);
      window.__pcs.push(pc);
      return pc;
    };
    window.RTCPeerConnection.prototype = Native.prototype;
  });
}

// What a page's newest peer connection says of its media: the selected
// candidate pair (its state, the two candidates' types, the far address),
// the received audio (bytes, energy), and its configuration; null without one.
export function callMedia(page) {
  return page.evaluate(async () => {
    const pc = window.__pcs.at(-1);
    if (!pc) return null;
    const stats = new Map();
    (await pc.getStats()).forEach((s) => stats.set(s.id, s));
    let pair = null;
    let inbound = null;
    for (const s of stats.values()) {
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
      if (s.type === 'inbound-rtp' && s.kind === 'audio') inbound = s;
    }
    const local = pair && stats.get(pair.localCandidateId);
    const remote = pair && stats.get(pair.remoteCandidateId);
    return {
      state: pair ? pair.state : null,
      local: local ? local.candidateType : null,
      remote: remote ? remote.candidateType : null,
      remoteAddress: remote ? remote.address : null,
      bytes: inbound ? inbound.bytesReceived : 0,
      energy: inbound ? inbound.totalAudioEnergy : 0,
      config: pc.getConfiguration(),
    };
  });
}
