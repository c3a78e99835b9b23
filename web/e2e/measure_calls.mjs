// The figures of calls (issue 19), measured in the namespaces netns.sh makes,
// with the real tiraid, coturn from docs/turnserver.conf and Debian's
// Chromium with its fake microphone:
//  1. call set-up: `calls` calls between the two apps, from the client's
//     start frame to both browsers connected, and from the talent's accept;
//  2. tiraid's CPU time per call over those calls;
//  3. how many relayed calls at once this machine carries (1, 2, 4, 8, then two
//     more at a time) until a call does not connect, audio stops rising on a
//     side, or `max` is reached.
// Not a test: it prints what it measured.
//   TIRAID=build/relay/tiraid web/e2e/netns.sh node web/e2e/measure_calls.mjs [calls=20] [max=64]
import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { CALL_FLAGS, launchChromium, Tiraid } from './harness.mjs';
import { Coturn } from './coturn.mjs';

const CALLS = Number(process.argv[2] || 20);
const MAX = Number(process.argv[3] || 64);
const SECRET = 'violet-harbour-lantern-42';
const TICK = 100; // clock ticks per second of /proc's utime and stime

function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
}

// CPU seconds of every process whose command line names `name`.
function cpuOf(name) {
  let total = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(name)) total += cpuSeconds(pid);
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

// The machine's busy and total CPU ticks so far (all cores).
function machine() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4];
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

// Records when each RTCPeerConnection of the page connects (the page's clock: the same machine's).
async function recorder(context) {
  await context.addInitScript(() => {
    const Native = window.RTCPeerConnection;
    window.__pcs = [];
    window.__connected = [];
    window.RTCPeerConnection = function (...args) {
      const pc = new Native(...args);
      window.__pcs.push(pc);
      pc.addEventListener('connectionstatechange', () => {
        if (pc.connectionState === 'connected') window.__connected.push(Date.now());
      });
      return pc;
    };
    window.RTCPeerConnection.prototype = Native.prototype;
  });
}

async function setUpTimes(tiraid, browser) {
  await tiraid.api('POST', '/v1/talents', { alias: 'natasha', secret: SECRET });
  const b = (await tiraid.api('POST', '/v1/sessions', { talent: 'natasha', client: '+6281234567890', package: 'call-60m' })).body;
  const tctx = await browser.newContext();
  const cctx = await browser.newContext();
  await recorder(tctx);
  await recorder(cctx);
  const talent = await tctx.newPage();
  const client = await cctx.newPage();
  const sent = { start: [], accept: [] };
  for (const [page, kind] of [[client, 'start'], [talent, 'accept']])
    page.on('websocket', (ws) =>
      ws.on('framesent', (f) => {
        if (String(f.payload).includes(`"action":"${kind}"`)) sent[kind].push(Date.now());
      }),
    );
  await talent.goto(tiraid.relay + '/talent/');
  await talent.getByLabel('Alias').fill('natasha');
  await talent.getByLabel('Secret').fill(SECRET);
  await talent.getByRole('button', { name: 'Log in' }).click();
  await talent.getByRole('button', { name: b.client_alias, exact: true }).waitFor({ timeout: 15_000 });
  await client.goto(b.client_link);
  await client.getByRole('button', { name: 'Call', exact: true }).waitFor({ timeout: 15_000 });
  const cpu0 = cpuSeconds(tiraid.proc.pid);
  const fromStart = [];
  const fromAccept = [];
  for (let i = 0; i < CALLS; i++) {
    await client.getByRole('button', { name: 'Call', exact: true }).click();
    await talent.getByRole('button', { name: 'Answer' }).click();
    await client.getByText('On a call with natasha').waitFor({ timeout: 15_000 });
    await talent.getByText(`On a call with ${b.client_alias}`).waitFor({ timeout: 15_000 });
    const both = Math.max(
      (await client.evaluate(() => window.__connected.at(-1))),
      (await talent.evaluate(() => window.__connected.at(-1))),
    );
    fromStart.push(both - sent.start[i]);
    fromAccept.push(both - sent.accept[i]);
    await client.getByRole('button', { name: 'Hang up' }).click();
    await client.getByRole('button', { name: 'Call', exact: true }).waitFor({ timeout: 15_000 });
  }
  const cpu = cpuSeconds(tiraid.proc.pid) - cpu0;
  await tctx.close();
  await cctx.close();
  fromStart.sort((x, y) => x - y);
  fromAccept.sort((x, y) => x - y);
  console.log(`call set-up over ${CALLS} calls between the apps (ms):`);
  console.log(`  start -> both connected: p50 ${percentile(fromStart, 50)}, p99 ${percentile(fromStart, 99)}, max ${fromStart.at(-1)}`);
  console.log(`  (the test clicks Answer as soon as it rings; that reaction is in the figure above)`);
  console.log(`  accept -> both connected: p50 ${percentile(fromAccept, 50)}, p99 ${percentile(fromAccept, 99)}, max ${fromAccept.at(-1)}`);
  console.log(`tiraid CPU: ${((cpu / CALLS) * 1000).toFixed(1)} ms per call (${cpu.toFixed(2)} s over ${CALLS} calls, pages and hang-ups included)`);
}

// One side of a call, by hand (no app around it): hello, then start or
// answer, media with the relay policy, audio played so Chromium measures it.
async function side(page, url, hello, session, caller) {
  await page.evaluate(
    ([url, hello, session, caller]) => {
      window.__state = 'new';
      const ws = new WebSocket(url);
      const send = (f) => ws.send(JSON.stringify(f));
      let pc = null;
      let call = null;
      const open = async (ice) => {
        pc = new RTCPeerConnection({ iceServers: ice.servers, iceTransportPolicy: 'relay' });
        window.__pc = pc;
        const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
        for (const t of mic.getAudioTracks()) pc.addTrack(t, mic);
        pc.onicecandidate = (e) => e.candidate && send({ type: 'call', action: 'candidate', session, call, candidate: e.candidate.toJSON() });
        pc.ontrack = (e) => {
          const a = new Audio();
          a.srcObject = e.streams[0];
          a.play().catch(() => {});
        };
        pc.onconnectionstatechange = () => (window.__state = pc.connectionState);
      };
      ws.onopen = () => send(hello);
      // One frame after another: an offer must wait until the microphone is in.
      let chain = Promise.resolve();
      ws.onmessage = (e) => {
        chain = chain.then(() => handle(JSON.parse(e.data))).catch((err) => (window.__error = String(err)));
      };
      const handle = async (m) => {
        if (m.type === 'welcome') window.__welcomed = true;
        if (m.type === 'welcome' && caller) send({ type: 'call', action: 'start', session, id: 'r1' });
        if (m.type !== 'call') return;
        if (m.action === 'started') {
          call = m.call;
          await open(m.ice);
        } else if (m.action === 'ringing') {
          call = m.call;
          await open(m.ice);
          send({ type: 'call', action: 'accept', session, call });
        } else if (m.action === 'accepted') {
          await pc.setLocalDescription(await pc.createOffer());
          send({ type: 'call', action: 'sdp', session, call, sdp: { type: 'offer', sdp: pc.localDescription.sdp } });
        } else if (m.action === 'sdp') {
          await pc.setRemoteDescription(m.sdp);
          if (m.sdp.type === 'offer') {
            await pc.setLocalDescription(await pc.createAnswer());
            send({ type: 'call', action: 'sdp', session, call, sdp: { type: 'answer', sdp: pc.localDescription.sdp } });
          }
        } else if (m.action === 'candidate' && m.candidate.candidate) {
          await pc.addIceCandidate(m.candidate);
        } else if (m.action === 'ended') {
          window.__state = 'ended';
        }
      };
    },
    [url, hello, session, caller],
  );
}

async function audio(page) {
  return page.evaluate(async () => {
    let bytes = 0;
    let energy = 0;
    if (window.__pc)
      (await window.__pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') {
          bytes = s.bytesReceived;
          energy = s.totalAudioEnergy;
        }
      });
    return { bytes, energy };
  });
}

// Chromium starts at most 16 fake microphones per browser ("Could not start
// audio source" after that): a browser of its own for every 8 calls.
const CALLS_PER_BROWSER = 8;

async function concurrency(tiraid, coturn) {
  const contexts = [];
  const url = tiraid.relay.replace('http', 'ws') + '/v1/ws';
  const pages = [];
  let calls = 0;
  console.log('concurrent relayed calls (each: two pages, Opus from the fake microphone, both ways):');
  for (let target = 1; target <= MAX; target = target < 8 ? target * 2 : target + 2) {
    const t0 = Date.now();
    for (; calls < target; calls++) {
      const alias = `t${calls}`;
      await tiraid.api('POST', '/v1/talents', { alias, secret: SECRET });
      const b = (await tiraid.api('POST', '/v1/sessions', { talent: alias, client: `+62812000${String(calls).padStart(5, '0')}`, package: 'call-60m' })).body;
      if (calls % CALLS_PER_BROWSER === 0) contexts.push(await (await launchChromium(CALL_FLAGS)).newContext());
      const context = contexts.at(-1);
      const t = await context.newPage();
      const c = await context.newPage();
      await t.goto(tiraid.relay + '/s/');
      await c.goto(tiraid.relay + '/s/');
      await side(t, url, { type: 'hello', role: 'talent', alias, secret: SECRET }, b.session, false);
      await t.waitForFunction(() => window.__welcomed === true, null, { timeout: 15_000 });
      await side(c, url, { type: 'hello', role: 'client', token: b.client_token }, b.session, true);
      pages.push(t, c);
    }
    // Every call connects, or this is the bound.
    const deadline = Date.now() + 30_000;
    let connected = 0;
    while (Date.now() < deadline) {
      connected = 0;
      for (const p of pages) connected += (await p.evaluate(() => window.__state)) === 'connected' ? 1 : 0;
      if (connected === pages.length) break;
      await delay(250);
    }
    const setUp = Date.now() - t0;
    if (connected < pages.length) {
      console.log(`  ${target} calls: only ${connected / 2} of ${target} connected within 30 s: the bound`);
      const states = await Promise.all(pages.map((p) => p.evaluate(() => `${window.__state}${window.__error ? ' ' + window.__error : ''}`)));
      const counts = {};
      for (const st of states) counts[st] = (counts[st] || 0) + 1;
      console.log(`  the sides' states: ${JSON.stringify(counts)}`);
      break;
    }
    // Over 3 s, every page's received audio must keep rising.
    const cpu0 = { tiraid: cpuSeconds(tiraid.proc.pid), coturn: cpuOf('turnserver') };
    const m0 = machine();
    const before = await Promise.all(pages.map(audio));
    const wall0 = Date.now();
    await delay(3000);
    const after = await Promise.all(pages.map(audio));
    const wall = (Date.now() - wall0) / 1000;
    const cpu = (k, now) => (((now - cpu0[k]) / wall) * 100).toFixed(0);
    const busy = (from) => {
      const now = machine();
      return (((now.busy - from.busy) / (now.total - from.total)) * 100).toFixed(0);
    };
    const rates = after.map((a, i) => ((a.bytes - before[i].bytes) * 8) / wall / 1000);
    const silent = after.filter((a, i) => !(a.energy > before[i].energy && a.bytes > before[i].bytes)).length;
    rates.sort((x, y) => x - y);
    console.log(
      `  ${target} calls: set up in ${setUp} ms; received kbit/s per side min ${rates[0].toFixed(1)} median ${percentile(rates, 50).toFixed(1)}; ` +
        `sides without rising audio: ${silent}; CPU % of one core: coturn ${cpu('coturn', cpuOf('turnserver'))}, ` +
        `tiraid ${cpu('tiraid', cpuSeconds(tiraid.proc.pid))}; the machine ${busy(m0)}% busy (all cores, the browsers most of it)`,
    );
    if (silent > 0) {
      console.log(`  ${target} calls: audio stopped rising on ${silent} sides: the bound`);
      break;
    }
  }
  const allocations = (await coturn.allocations()).length;
  console.log(`  coturn held ${allocations} allocations at the end (user-quota and total-quota of docs/turnserver.conf apply)`);
  for (const c of contexts) await c.browser().close();
}

const coturn = new Coturn();
await coturn.start();
const tiraid = await new Tiraid(
  process.env.TIRAID,
  coturn.toml() +
    '[policy]\nlogin_attempts_per_minute = 0\n' +
    '[packages.call-60m]\nchannels = ["chat", "voice"]\nduration = "60m"\n',
).init();
await tiraid.start();
const browser = await launchChromium(CALL_FLAGS);
try {
  await setUpTimes(tiraid, browser);
  await concurrency(tiraid, coturn);
} finally {
  await browser.close();
  await tiraid.stop();
  tiraid.cleanup();
  coturn.stop();
}
