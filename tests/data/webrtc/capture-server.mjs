// Tiny HTTP server for capture-page.html (see capture.sh). It serves the page,
// hands out coturn REST credentials, and writes what the page POSTs back to
// <out>/<label>-<name>. With --chromium it also drives /usr/bin/chromium via
// playwright-core; otherwise some other browser is expected to open the URL it
// writes to --urlfile. Exits 0 once the page reports success, 1 otherwise.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    out: { type: 'string', default: here },
    label: { type: 'string' },
    query: { type: 'string', default: '' },
    turn: { type: 'string', default: '198.51.100.7:3478' },
    secret: { type: 'string' },
    urlfile: { type: 'string' },
    chromium: { type: 'boolean', default: false },
    'no-media-flags': { type: 'boolean', default: false },
    profile: { type: 'string' },
    timeout: { type: 'string', default: '120' },
  },
});
if (!opt.label || !opt.secret) throw new Error('--label and --secret are required');

function turnCredentials() {
  const username = `${Math.floor(Date.now() / 1000) + 3600}:tirai-capture`;
  const credential = crypto.createHmac('sha1', opt.secret).update(username).digest('base64');
  return {
    iceServers: [{
      urls: [`turn:${opt.turn}?transport=udp`, `turn:${opt.turn}?transport=tcp`],
      username,
      credential,
    }],
  };
}

let finish;
const finished = new Promise((r) => { finish = r; });

function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  try {
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204);
      res.end();
    } else if (req.method === 'GET' && url.pathname === '/capture-page.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(fs.readFileSync(path.join(here, 'capture-page.html')));
    } else if (req.method === 'GET' && url.pathname === '/config') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(turnCredentials()));
    } else if (req.method === 'POST' && url.pathname.startsWith('/save/')) {
      const name = url.pathname.slice('/save/'.length);
      if (!/^[a-z-]+\.(sdp|jsonl)$/.test(name)) throw new Error('bad name ' + name);
      const file = path.join(opt.out, `${opt.label}-${name}`);
      fs.writeFileSync(file, await readBody(req)); // bytes exactly as sent by the page
      console.log(`[${opt.label}] wrote ${file}`);
      res.end('ok');
    } else if (req.method === 'POST' && url.pathname === '/log') {
      console.log(`[${opt.label}] page: ${await readBody(req)}`);
      res.end('ok');
    } else if (req.method === 'POST' && url.pathname === '/done') {
      const body = String(await readBody(req));
      console.log(`[${opt.label}] page done: ${body}`);
      res.end('ok');
      finish(body === 'ok');
    } else {
      res.writeHead(404);
      res.end();
    }
  } catch (e) {
    console.error(`[${opt.label}] ${e.stack || e}`);
    res.writeHead(500);
    res.end(String(e));
  }
});

await new Promise((r) => server.listen(0, '127.0.0.1', r));
const pageUrl = `http://127.0.0.1:${server.address().port}/capture-page.html?${opt.query}`;
console.log(`[${opt.label}] serving ${pageUrl}`);
if (opt.urlfile) fs.writeFileSync(opt.urlfile, pageUrl + '\n');

const timer = setTimeout(() => {
  console.error(`[${opt.label}] timed out after ${opt.timeout} s`);
  finish(false);
}, Number(opt.timeout) * 1000);

let context;
if (opt.chromium) {
  const require = createRequire(path.join(here, '../../../web/package.json'));
  const { chromium } = require('playwright-core');
  context = await chromium.launchPersistentContext(opt.profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // Without these, Chromium grants no capture permission and so hides host IPs behind mDNS.
      ...(opt['no-media-flags'] ? [] : ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream']),
      ...(process.env.CAPTURE_LOOPBACK ? ['--allow-loopback-in-peer-connection'] : []),
    ],
  });
  const page = context.pages()[0] || await context.newPage();
  page.on('console', (m) => console.log(`[${opt.label}] console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console.error(`[${opt.label}] pageerror: ${e}`));
  console.log(`[${opt.label}] ${context.browser()?.version() ?? 'chromium'}`);
  await page.goto(pageUrl);
}

const ok = await finished;
clearTimeout(timer);
if (context) await context.close();
server.close();
process.exit(ok ? 0 : 1);
