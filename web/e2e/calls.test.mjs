// Voice calls in headless Chromium (issue 19): the client page calls the
// talent console through the real tiraid and a real coturn, media only
// through the TURN relay, and nothing of a call survives its session.
// Inside a network namespace of its own (netns.sh): the pages' host address
// is 192.0.2.10 and coturn relays from 192.0.2.11; the pages must only ever
// see the latter. Run by ctest:
//   TIRAID=<path> web/e2e/netns.sh node --test --test-concurrency=1 web/e2e/calls.test.mjs
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { CALL_FLAGS, callMedia, keepPeerConnections, phone, steps, world } from './harness.mjs';
import { Coturn, HOST, RELAY } from './coturn.mjs';

const SECRET = 'violet-harbour-lantern-42';
const STEP = { timeout: 15_000 };
const SHOTS = process.env.TIRAI_WEB_SHOTS;

const coturn = new Coturn();
after(() => coturn.stop());

const seen = { urls: [], csp: [], errors: [] };
let talent, client, tester;
const { test, failed } = steps(seen, () => ({ talent, client, tester }));

const w = world(
  async () => {
    await coturn.start();
    return (
      coturn.toml('ring_timeout = "4s"\n') +
      '[sessions]\ngrace = "30s"\n' +
      '[packages.chat-30m]\nchannels = ["chat"]\nduration = "30m"\n' +
      '[packages.call-60m]\nchannels = ["chat", "voice"]\nduration = "60m"\n' +
      '[packages.voice-30m]\nchannels = ["voice"]\nduration = "30m"\n'
    );
  },
  () => {
    if (failed()) console.log(`--- coturn ---\n${coturn.log.slice(-4000)}`);
    return failed();
  },
  { chromiumArgs: CALL_FLAGS },
);

async function shot(page, name) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

// Every frame a page received, and its RTCPeerConnections for getStats().
async function instrumented() {
  const context = await phone(w.browser, seen);
  await keepPeerConnections(context);
  const page = await context.newPage();
  page.frames_ = [];
  page.on('websocket', (ws) => ws.on('framereceived', (f) => page.frames_.push(String(f.payload))));
  return page;
}

const media = callMedia;

// Polls the page's stats until its selected candidate pair has succeeded:
// the app shows the call once ICE connects, which may come a moment before
// the pair's own check from this side completes. Returns that reading.
async function connectedMedia(page) {
  const start = Date.now();
  for (;;) {
    const m = await media(page);
    if (m && m.state === 'succeeded') return m;
    assert.ok(Date.now() - start < 15_000, `the selected pair never succeeded: ${JSON.stringify(m)}`);
    await delay(100);
  }
}

// Polls the page's stats until its received audio has grown past `from`
// (bytes and audio energy) over at least `ms`; returns the last reading.
async function audioRises(page, from, ms) {
  const start = Date.now();
  for (;;) {
    const m = await media(page);
    if (m.bytes > from.bytes + 2000 && m.energy > from.energy && Date.now() - start >= ms) return m;
    assert.ok(Date.now() - start < 15_000, `no audio arrived: from ${JSON.stringify(from)} to ${JSON.stringify(m)}`);
    await delay(200);
  }
}

// The call frames a page received, parsed.
function callFrames(page) {
  return page.frames_.map((f) => JSON.parse(f)).filter((f) => f.type === 'call');
}

// Every candidate in what a page received: trickled ones and those inside SDP.
function candidatesIn(frames) {
  const out = [];
  for (const f of frames) {
    if (f.action === 'candidate' && f.candidate.candidate) out.push(f.candidate.candidate);
    if (f.action === 'sdp')
      for (const line of f.sdp.sdp.split('\r\n')) if (line.startsWith('a=candidate:')) out.push(line.slice(2));
  }
  return out;
}

function assertRelayOnly(page) {
  const all = page.frames_.join('\n');
  assert.ok(!all.includes(HOST), `the page received its peer's host address ${HOST}`);
  assert.ok(!/fe80:/i.test(all), 'the page received a link-local address');
  const candidates = candidatesIn(callFrames(page));
  assert.ok(candidates.length > 0, 'relay candidates crossed');
  for (const c of candidates) {
    const f = c.split(' ');
    assert.equal(f[7], 'relay', c);
    assert.equal(f[4], RELAY, c);
    assert.ok(c.includes(' raddr 0.0.0.0 rport 0'), c);
  }
  for (const f of callFrames(page).filter((x) => x.action === 'sdp')) {
    for (const line of f.sdp.sdp.split('\r\n')) {
      if (line.startsWith('c=')) assert.equal(line, 'c=IN IP4 0.0.0.0');
      if (line.startsWith('m=')) assert.ok(!line.startsWith('m=video') && !line.startsWith('m=application'), line);
    }
  }
}

let booking;

test('the talent logs in, the client opens the link of a call package', async () => {
  assert.equal((await w.tiraid.api('POST', '/v1/talents', { alias: 'natasha', secret: SECRET })).status, 201);
  booking = (await w.tiraid.api('POST', '/v1/sessions', { talent: 'natasha', client: '+6281234567890', package: 'call-60m' })).body;
  talent = await instrumented();
  await talent.goto(w.tiraid.relay + '/talent/');
  await talent.getByLabel('Alias').fill('natasha');
  await talent.getByLabel('Secret').fill(SECRET);
  await talent.getByRole('button', { name: 'Log in' }).click();
  await talent.getByRole('button', { name: booking.client_alias, exact: true }).waitFor(STEP);
  client = await instrumented();
  await client.goto(booking.client_link);
  await client.getByRole('button', { name: 'Call', exact: true }).waitFor(STEP);
});

test('a call from the client page is answered in the console; audio flows both ways, relay to relay', async () => {
  await client.getByRole('button', { name: 'Call', exact: true }).click();
  await client.getByText('Calling natasha…').waitFor(STEP);
  await talent.getByText(`${booking.client_alias} is calling`).waitFor(STEP);
  await shot(talent, 'talent-ringing');
  await talent.getByRole('button', { name: 'Answer' }).click();
  await client.getByText('On a call with natasha').waitFor(STEP);
  await talent.getByText(`On a call with ${booking.client_alias}`).waitFor(STEP);
  await shot(client, 'client-in-call');
  for (const page of [client, talent]) {
    const m = await connectedMedia(page);
    assert.equal(m.local, 'relay');
    assert.equal(m.remote, 'relay');
    assert.equal(m.remoteAddress, RELAY);
    await audioRises(page, m, 2000);
  }
  // Each app made its connection with the relay policy and the relay's TURN server only.
  for (const page of [client, talent]) {
    const config = await page.evaluate(() => window.__pcs.at(-1).getConfiguration());
    assert.equal(config.iceTransportPolicy, 'relay');
    assert.equal(config.iceServers.length, 1);
    assert.deepEqual(config.iceServers[0].urls, [`turn:${RELAY}:${coturn.port}?transport=udp`]);
  }
});

test('every candidate and SDP either page received names only the TURN relay address', async () => {
  assertRelayOnly(client);
  assertRelayOnly(talent);
});

test('Mute silences the microphone; Hang up ends the call for both, with its time', async () => {
  const mute = talent.getByRole('button', { name: 'Mute' });
  await mute.click();
  assert.equal(await mute.getAttribute('aria-pressed'), 'true');
  assert.deepEqual(
    await talent.evaluate(() => window.__pcs.at(-1).getSenders().map((s) => s.track && s.track.enabled)),
    [false],
  );
  await mute.click();
  assert.equal(await mute.getAttribute('aria-pressed'), 'false');
  await client.getByRole('button', { name: 'Hang up' }).click();
  // The call lasted over two seconds (the audio checks): its time is shown.
  await client.getByText(/^The call ended\. \(0:0[2-9]\)$/).waitFor(STEP);
  await talent.getByText(/^The call ended\. \(0:0[2-9]\)$/).waitFor(STEP);
  await client.getByRole('button', { name: 'Call', exact: true }).waitFor(STEP);
  await shot(talent, 'talent-after-call');
});

test('declined and unanswered calls say so on both sides', async () => {
  await client.getByRole('button', { name: 'Call', exact: true }).click();
  await talent.getByRole('button', { name: 'Decline' }).click();
  await client.getByText('The call was declined.').waitFor(STEP);
  await talent.getByText('The call was declined.').waitFor(STEP);
  await client.getByRole('button', { name: 'Call', exact: true }).click();
  await talent.getByRole('button', { name: 'Answer' }).waitFor(STEP);
  // calls.ring_timeout is 4 s here
  await client.getByText('No answer.').waitFor(STEP);
  await talent.getByText('No answer.').waitFor(STEP);
});

test('a caller without the relay policy never hands the console a host candidate, and the session end cuts its media', async () => {
  const b = (await w.tiraid.api('POST', '/v1/sessions', { talent: 'natasha', client: '+6281234567891', package: 'call-60m' })).body;
  await talent.getByRole('button', { name: b.client_alias, exact: true }).waitFor(STEP);
  const dropped = async () => {
    const res = await fetch(w.tiraid.admin + '/metrics', { headers: { Authorization: `Bearer ${w.tiraid.token}` } });
    const m = (await res.text()).match(/^tirai_call_candidates_dropped_total (\d+)/m);
    return m ? Number(m[1]) : 0;
  };
  const droppedBefore = await dropped();
  talent.frames_.length = 0;
  // A hand-written client on the relay's origin: the protocol by hand, and an
  // RTCPeerConnection with every candidate type allowed.
  tester = await instrumented();
  await tester.goto(w.tiraid.relay + '/s/');
  await tester.evaluate(
    ([url, token, session]) => {
      window.__got = [];
      const ws = new WebSocket(url);
      const send = (f) => ws.send(JSON.stringify(f));
      let pc = null;
      let call = null;
      ws.onopen = () => send({ type: 'hello', role: 'client', token });
      ws.onmessage = async (e) => {
        const m = JSON.parse(e.data);
        window.__got.push(m);
        if (m.type === 'welcome') send({ type: 'call', action: 'start', session, id: 'r1' });
        if (m.type !== 'call') return;
        if (m.action === 'started') {
          call = m.call;
          pc = new RTCPeerConnection({ iceServers: m.ice.servers, iceTransportPolicy: 'all' });
          const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
          for (const t of mic.getAudioTracks()) pc.addTrack(t, mic);
          // Played, as a real client would: Chromium measures the audio energy at playout.
          pc.ontrack = (ev) => {
            const a = new Audio();
            a.srcObject = ev.streams[0];
            a.play().catch(() => {});
          };
          pc.onicecandidate = (ev) => ev.candidate && send({ type: 'call', action: 'candidate', session, call, candidate: ev.candidate.toJSON() });
        }
        if (m.action === 'accepted') {
          await pc.setLocalDescription(await pc.createOffer());
          send({ type: 'call', action: 'sdp', session, call, sdp: { type: 'offer', sdp: pc.localDescription.sdp } });
        }
        if (m.action === 'sdp') await pc.setRemoteDescription(m.sdp);
        if (m.action === 'candidate' && m.candidate.candidate) await pc.addIceCandidate(m.candidate);
        // On 'ended' this client keeps its connection open: the relay must cut it anyway.
      };
    },
    [w.tiraid.relay.replace('http', 'ws') + '/v1/ws', b.client_token, b.session],
  );
  await talent.getByText(`${b.client_alias} is calling`).waitFor(STEP);
  await talent.getByRole('button', { name: 'Answer' }).click();
  await talent.getByText(`On a call with ${b.client_alias}`).waitFor(STEP);
  await tester.waitForFunction(() => window.__pcs.at(-1)?.connectionState === 'connected', null, STEP);
  const m = await connectedMedia(tester);
  assert.equal(m.remote, 'relay');
  await audioRises(tester, m, 1000);
  // The console's browser knows of no address of the tester's, not even
  // one learnt from its checks (peer-reflexive).
  const known = await talent.evaluate(async () => {
    const out = [];
    (await window.__pcs.at(-1).getStats()).forEach((s) => {
      if (s.type === 'remote-candidate') out.push(`${s.candidateType} ${s.address}`);
    });
    return out;
  });
  assert.ok(known.length > 0 && known.every((c) => c === `relay ${RELAY}`), known.join(', '));

  // It offered host candidates; the relay dropped every one of them.
  const offer = await tester.evaluate(() => window.__pcs.at(-1).localDescription.sdp);
  assert.ok(offer.includes(` ${HOST} `) && offer.includes(' typ host'), 'the tester gathered its host address');
  assert.ok((await dropped()) > droppedBefore, 'the relay dropped the host candidates it was sent');
  assertRelayOnly(talent);
  // And what reached the tester, which would have used any address it was given, is relay only too.
  assertRelayOnly(tester);

  // The operator ends the session mid-call.
  const usernames = [
    (await tester.evaluate(() => window.__got.find((f) => f.action === 'started').ice.servers[0].username)),
    callFrames(talent).find((f) => f.action === 'ringing').ice.servers[0].username,
  ];
  for (const u of usernames) assert.ok((await coturn.allocations()).includes(u), `coturn holds an allocation of ${u}`);
  const endedAt = Date.now();
  assert.equal((await w.tiraid.api('POST', `/v1/sessions/${b.session}/end`)).status, 200);
  // The call rang above the list (another session was on screen); its end is in its conversation.
  await talent.getByRole('button', { name: 'Hang up' }).waitFor({ state: 'detached', ...STEP });
  await talent.getByRole('button', { name: b.client_alias, exact: true }).click();
  await talent.getByText('The call ended with the session.').waitFor(STEP);
  await tester.waitForFunction(() => window.__got.some((f) => f.action === 'ended' && f.reason === 'session_closed'), null, STEP);
  // coturn holds nothing of the call within a second of the end.
  for (;;) {
    const left = (await coturn.allocations()).filter((u) => usernames.includes(u));
    if (left.length === 0) break;
    assert.ok(Date.now() - endedAt < 1000, `allocations still there after a second: ${left}`);
  }
  // The tester's connection is still open, but nothing reaches it any more.
  const b1 = (await media(tester)).bytes;
  await delay(1500);
  const b2 = (await media(tester)).bytes;
  assert.equal(b2, b1, 'no byte arrived after the allocations were cancelled');
});

test('a chat-only session offers no Call, a voice-only one no message box', async () => {
  const chat = (await w.tiraid.api('POST', '/v1/sessions', { talent: 'natasha', client: '+6281234567892', package: 'chat-30m' })).body;
  const voice = (await w.tiraid.api('POST', '/v1/sessions', { talent: 'natasha', client: '+6281234567893', package: 'voice-30m' })).body;
  await talent.getByRole('button', { name: chat.client_alias, exact: true }).click();
  await talent.getByRole('textbox', { name: 'Message', exact: true }).waitFor(STEP);
  assert.equal(await talent.getByRole('button', { name: 'Call', exact: true }).count(), 0);
  await talent.getByRole('button', { name: voice.client_alias, exact: true }).click();
  await talent.getByRole('button', { name: 'Call', exact: true }).waitFor(STEP);
  assert.equal(await talent.getByRole('textbox', { name: 'Message', exact: true }).count(), 0);
  assert.deepEqual(seen.errors, []);
});

test("tiraid's log, at debug level, holds no address, SDP or TURN credential of any call", async () => {
  const log = w.tiraid.log;
  const secrets = [];
  for (const page of [client, talent, tester]) {
    for (const f of callFrames(page)) {
      if (f.ice) for (const s of f.ice.servers) secrets.push(s.username, s.credential, s.username.split(':')[1]);
    }
  }
  if (tester) {
    for (const f of await tester.evaluate(() => window.__got))
      if (f.ice) for (const s of f.ice.servers) secrets.push(s.username, s.credential);
  }
  assert.ok(secrets.length >= 6);
  for (const s of [...secrets, HOST, RELAY, 'candidate:', 'a=fingerprint', 'ice-pwd', 'v=0'])
    assert.ok(!log.includes(s), `tiraid's log holds ${s}`);
  assert.match(log, /\[calls\] c_[a-z2-7]{26} in s_[a-z2-7]{26} ended \(session_closed, \d+ s\)/);
});
