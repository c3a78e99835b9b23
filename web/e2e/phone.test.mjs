// Phone calls in the talent console (issue 20): a client's phone calls the
// session's proxy number and the console rings; the talent answers in
// Chromium and they talk; she calls the client back from the console and
// his phone sees the proxy number; the session's end hangs the call up.
// The real tiraid, and the real Kamailio, rtpengine and coturn started by
// tools/voice-stack.sh, as an operator would run them; SIPp plays the
// client's phone behind the carrier, rtp_phone.py its voice (a WAV file).
//
// Inside the network namespaces of netns.sh: the console's host address is
// 192.0.2.10, the voice stack is at 192.0.2.11 in a namespace of its own,
// and the carrier and the client's phone at 192.0.2.12 beside it. Neither
// the client's number nor 192.0.2.12 may ever reach the console. Run by ctest:
//   TIRAID=<path> web/e2e/netns.sh node --test --test-concurrency=1 web/e2e/phone.test.mjs
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { CALL_FLAGS, Tiraid, callMedia, cspViolations, freePort, keepPeerConnections, launchChromium, phone, steps } from './harness.mjs';

const HOST = '192.0.2.10'; // the console's own address
const VOICE = '192.0.2.11'; // Kamailio, rtpengine, coturn
const CARRIER = '192.0.2.12'; // the carrier's trunk and the client's phone
const CLIENT_NUMBER = '+6281234567890';
const PROXY = '+6281100000001';
const SECRET = 'violet-harbour-lantern-42';
const STEP = { timeout: 15_000 };
const SHOTS = process.env.TIRAI_WEB_SHOTS;
const ROOT = new URL('../../', import.meta.url).pathname;
const SIPP = join(ROOT, 'tests/data/sipp');
const NS = process.env.TIRAI_TURN_NETNS;

// Ports inside the voice namespace, which nothing else uses.
const WS_PORT = 8443;
const RPC_PORT = 5071;
const TURN_PORT = 3478;
const TURN_CLI = 5766;
const CARRIER_PORT = 5060;

const seen = { urls: [], csp: [], errors: [] };
let tiraid, browser, voice, talent;
const said = {}; // what voice-stack.sh printed
let voiceLog = '';
const sipSeen = []; // every SIP message the console received over its WebSocket
const { test, failed } = steps(seen, () => ({ talent }));

// A program in the voice namespace.
function inVoiceNs(program, args, options = {}) {
  return spawn('nsenter', ['-t', NS, '-n', '--', program, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

// Runs to its end; resolves with { code, out }.
function finished(proc) {
  let out = '';
  proc.stdout.on('data', (c) => (out += c));
  proc.stderr.on('data', (c) => (out += c));
  return new Promise((resolve) => proc.once('exit', (code) => resolve({ code, out })));
}

// SIPp in the voice namespace, as the carrier's side at 192.0.2.12. `trace`: its received messages' file.
function sipp(scenario, args, trace, timeout = '30s') {
  return inVoiceNs('/usr/bin/sipp', [
    '-sf', join(SIPP, scenario), '-i', CARRIER, '-m', '1', '-nostdin', '-timeout', timeout, '-timeout_error',
    '-trace_msg', '-message_file', trace, ...args,
  ]);
}

// The messages SIPp received, each as it arrived.
function received(trace) {
  const text = readFileSync(trace, 'utf8');
  const out = [];
  const re = /-{10,} [^\n]*\n(\w+) message received \[\d+\] bytes :\n\n/g;
  let m;
  while ((m = re.exec(text))) {
    const end = text.indexOf('\n-----------------', re.lastIndex);
    out.push(text.slice(re.lastIndex, end < 0 ? undefined : end));
  }
  return out;
}

// Every spelling of the client's number a message could carry.
function mentionsNumber(text) {
  const digits = CLIENT_NUMBER.slice(1);
  return [digits, '0' + CLIENT_NUMBER.slice(3), CLIENT_NUMBER.slice(-8)].some((d) => text.includes(d));
}

async function shot(page, name) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

before(async () => {
  if (!NS) throw new Error('run this suite through web/e2e/netns.sh (the voice stack needs a namespace of its own)');
  for (const p of ['/usr/bin/sipp', '/usr/sbin/kamailio', '/usr/bin/rtpengine', '/usr/bin/turnserver', '/usr/bin/sox'])
    statSync(p); // missing: install-deps.sh was not run; this fails, it does not skip
  const seam = await freePort();
  tiraid = await new Tiraid(
    process.env.TIRAID,
    '[sms]\nenabled = true\nlisten = "127.0.0.1:0"\ninbound_secret = "kannel-to-tirai-0123456789"\n' +
      'sendsms_url = "http://127.0.0.1:9/cgi-bin/sendsms"\nusername = "u"\npassword = "p"\n' +
      `proxy_numbers = ["${PROXY}", "+6281100000002", "+6281100000003"]\ncountry_code = "62"\n` +
      // Kamailio is in the voice namespace: the seam listens on the address it can reach.
      `[phone]\nenabled = true\nlisten = "${HOST}:${seam}"\nallow_plaintext = true\n` +
      `kamailio_rpc = "${VOICE}:${RPC_PORT}"\nsip_ws_urls = ["ws://${VOICE}:${WS_PORT}"]\nsip_domain = "tirai.test"\n` +
      `[calls]\nenabled = true\nturn_urls = ["turn:${VOICE}:${TURN_PORT}?transport=udp"]\n` +
      `turn_admin = "${VOICE}:${TURN_CLI}"\n` +
      '[policy]\nlogin_attempts_per_minute = 0\n' +
      '[packages.call-60m]\nchannels = ["chat", "voice"]\nduration = "60m"\n' +
      // A minute of calls: its last minute starts with the call, and so does rtpengine's tone.
      '[packages.call-1min]\nchannels = ["chat", "voice"]\nduration = "60m"\ncall_minutes = 1\n',
  ).init();
  voice = inVoiceNs(join(ROOT, 'tools/voice-stack.sh'), [
    '--config', tiraid.config, '--address', VOICE, '--carrier', `${CARRIER}:${CARRIER_PORT}`, '--dir', join(tiraid.dir, 'voice'),
  ]);
  voice.stderr.on('data', (c) => (voiceLog += c));
  await new Promise((resolve, reject) => {
    let buf = '';
    voice.stdout.on('data', (c) => {
      buf += c;
      for (const line of buf.split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) said[line.slice(0, eq)] = line.slice(eq + 1);
        if (line === 'ready') resolve();
      }
    });
    voice.once('exit', (code) => reject(new Error(`voice-stack.sh exited with ${code}:\n${voiceLog}`)));
  });
  assert.equal(said.talent_ws, `ws://${VOICE}:${WS_PORT}`, 'the stack listens where phone.sip_ws_urls says');
  assert.equal(said.turn, `${VOICE}:${TURN_PORT}`);
  await tiraid.start();
  browser = await launchChromium(CALL_FLAGS);
});

after(async () => {
  await browser?.close();
  await tiraid?.stop();
  if (voice && voice.exitCode === null) {
    const gone = new Promise((r) => voice.once('exit', r));
    voice.kill('SIGTERM');
    await gone;
  }
  if (failed()) {
    console.log(tiraid?.log);
    console.log(`--- voice-stack ---\n${voiceLog}`);
    for (const f of ['kamailio.log', 'rtpengine.log', 'coturn.log']) {
      try {
        console.log(`--- ${f} ---\n${readFileSync(join(tiraid.dir, 'voice', f), 'utf8').slice(-4000)}`);
      } catch {
        // not started
      }
    }
  }
  // TIRAI_PHONE_DEBUG=1 also keeps the folder (SIPp traces, the voice stack's logs).
  if (process.env.TIRAI_PHONE_DEBUG) console.log(`kept ${tiraid?.dir}`);
  else tiraid?.cleanup();
});

// The console, with its RTCPeerConnections kept for getStats() and every
// SIP message it received kept in sipSeen.
async function console_() {
  const context = await phone(browser, seen);
  await keepPeerConnections(context);
  // TIRAI_PHONE_DEBUG=1: JsSIP's own log and the page's console on stdout.
  if (process.env.TIRAI_PHONE_DEBUG) {
    await context.addInitScript(() => {
      try {
        localStorage.setItem('debug', 'JsSIP:*');
      } catch {
        // about:blank
      }
    });
    context.on('console', (m) => console.log(`[page] ${m.text().slice(0, 600)}`));
  }
  const page = await context.newPage();
  page.frames_ = [];
  page.on('websocket', (ws) => {
    const sip = ws.url().startsWith(`ws://${VOICE}:${WS_PORT}`);
    ws.on('framereceived', (f) => (sip ? sipSeen : page.frames_).push(String(f.payload)));
  });
  return page;
}

const media = callMedia;

// Polls until the phone's voice has been heard for at least `ms`.
async function heard(page, ms) {
  const start = Date.now();
  let first = null;
  for (;;) {
    const m = await media(page);
    if (m && m.state === 'succeeded') {
      first ??= m;
      if (m.bytes > first.bytes + 2000 && m.energy > first.energy && Date.now() - start >= ms) return m;
    }
    assert.ok(Date.now() - start < 15_000, `no audio from the phone: from ${JSON.stringify(first)} to ${JSON.stringify(m)}`);
    await delay(200);
  }
}

let booking;

test('the talent logs in; her console registers its phone line with the relay\'s short-lived SIP account', async () => {
  assert.equal((await tiraid.api('POST', '/v1/talents', { alias: 'natasha', secret: SECRET })).status, 201);
  booking = (await tiraid.api('POST', '/v1/sessions', { talent: 'natasha', client: CLIENT_NUMBER, package: 'call-1min' })).body;
  assert.equal(booking.proxy_number, PROXY, JSON.stringify(booking));
  talent = await console_();
  await talent.goto(tiraid.relay + '/talent/');
  await talent.getByLabel('Alias').fill('natasha');
  await talent.getByLabel('Secret').fill(SECRET);
  await talent.getByRole('button', { name: 'Log in' }).click();
  await talent.getByRole('button', { name: booking.client_alias, exact: true }).waitFor(STEP);
  // "Call by phone" is enabled once the line is registered.
  const byPhone = talent.getByRole('button', { name: 'Call by phone' });
  await byPhone.waitFor(STEP);
  await talent.waitForFunction(() => {
    const b = [...document.querySelectorAll('button')].find((x) => x.textContent.trim() === 'Call by phone');
    return b && !b.disabled;
  }, null, STEP);
  assert.ok(sipSeen.some((m) => /^SIP\/2\.0 200 /.test(m) && /CSeq: \d+ REGISTER/.test(m)), 'registered over WebSocket');
  await shot(talent, 'phone-line-ready');
});

test('the client\'s phone calls the proxy number: the console rings with "phone", the talent answers, they hear each other, the phone hears the one-minute tone', async () => {
  const dir = join(tiraid.dir, 'phone-call');
  mkdirSync(dir);
  const wav = join(dir, 'voice.wav');
  const alaw = join(dir, 'voice.al');
  const recording = join(dir, 'heard.al');
  // The phone's voice: a WAV file, as the phone would send it (A-law).
  execFileSync('sox', ['-n', '-r', '8000', '-c', '1', '-b', '16', wav, 'synth', '20', 'sine', '300-800', 'vol', '0.5']);
  execFileSync('sox', [wav, '-t', 'al', alaw]);
  const rtpPort = 16000 + 4; // call.xml's SDP: media_port + 4
  const rtp = inVoiceNs('python3', [join(ROOT, 'web/e2e/rtp_phone.py'), CARRIER, String(rtpPort), alaw, recording]);
  const rtpDone = finished(rtp);
  await new Promise((resolve) => rtp.stdout.once('data', resolve));
  const trace = join(dir, 'sipp.trace');
  const call = finished(
    sipp('call.xml', ['-p', '5070', '-mi', CARRIER, '-mp', '16000', '-s', PROXY, '-set', 'from', CLIENT_NUMBER,
      '-d', '6000', `${VOICE}:${said.sip.split(':')[1]}`], trace),
  );
  const ringing = talent.getByText(`${booking.client_alias} is calling`);
  await ringing.waitFor(STEP);
  await talent.locator('.call-status .badge', { hasText: 'phone' }).waitFor(STEP);
  await shot(talent, 'phone-ringing');
  await talent.getByRole('button', { name: 'Answer' }).click();
  await talent.getByText(`On a call with ${booking.client_alias}`).waitFor(STEP);
  const m = await heard(talent, 2500);
  // Her media goes through coturn only, to rtpengine: no address of hers reaches it.
  assert.equal(m.local, 'relay');
  assert.equal(m.remoteAddress, VOICE);
  assert.equal(m.config.iceTransportPolicy, 'relay');
  await shot(talent, 'phone-in-call');
  // The phone hangs up after its 6 s of talk.
  const { code, out } = await call;
  assert.equal(code, 0, out);
  await talent.getByText(/^The call ended\. \(0:0[3-9]\)$/).waitFor(STEP);
  rtp.kill('SIGTERM');
  const { out: rtpOut } = await rtpDone;
  const [, got] = rtpOut.match(/received (\d+) sent (\d+)/) || [];
  assert.ok(Number(got) > 100, `the phone heard the console: ${rtpOut}`);
  // sox on what the phone heard: first rtpengine's tone (880 Hz, the
  // package has one minute of calls), then the console's voice (Chromium's
  // fake microphone beeps, which have nothing near 880 Hz).
  const rms = (...effects) => {
    const stat = spawnSync('sox', ['-t', 'al', '-r', '8000', '-c', '1', recording, '-n', ...effects, 'stat'], { encoding: 'utf8' });
    return Number((stat.stderr.match(/RMS\s+amplitude:\s+([\d.]+)/) || [])[1] || 0);
  };
  const voiceLater = rms('trim', '3');
  assert.ok(voiceLater > 0.01, `the phone heard silence from the console: RMS ${voiceLater}`);
  // The tone: a half second, in the first four, that is mostly 880 Hz.
  const windows = [];
  for (let at = 0; at < 4; at += 0.25) {
    const band = rms('trim', String(at), '0.5', 'sinc', '850-910');
    windows.push({ at, band, all: rms('trim', String(at), '0.5') });
  }
  assert.ok(
    windows.some((w) => w.band > 0.03 && w.band > 0.5 * w.all),
    `no one-minute tone: ${JSON.stringify(windows)}`,
  );
  assert.match(tiraid.log, /one minute left, a tone to the phone/);
});

test('no SIP message, frame or log line reaching the console holds the client\'s number or the carrier\'s address', async () => {
  assert.ok(sipSeen.some((m) => m.startsWith('INVITE ')), 'the console received the INVITE');
  for (const m of sipSeen) {
    assert.ok(!mentionsNumber(m), `a SIP message to the console names the client's number:\n${m}`);
    assert.ok(!m.includes(CARRIER), `a SIP message to the console names the carrier's address:\n${m}`);
  }
  const invite = sipSeen.find((m) => m.startsWith('INVITE '));
  assert.match(invite, new RegExp(`^From: "?${booking.client_alias}"? <sip:${booking.client_alias}@tirai\\.test>`, 'm'));
  for (const header of ['P-Asserted-Identity', 'P-Preferred-Identity', 'Remote-Party-ID', 'Diversion', 'History-Info', 'Identity'])
    assert.ok(!new RegExp(`^${header}:`, 'mi').test(invite), `${header} reached the console`);
  for (const f of talent.frames_) assert.ok(!mentionsNumber(f), `a relay frame names the client's number: ${f}`);
  assert.ok(!mentionsNumber(tiraid.log), 'tiraid logged the client\'s number');
  // The console's Content-Security-Policy lets it reach Kamailio and nothing else new.
  assert.deepEqual(await cspViolations(talent), []);
  assert.deepEqual(seen.csp, []);
  assert.deepEqual(seen.errors, []);
});

// When SIPp received its message whose first line starts with `what` (and
// then `status`), from its trace's time stamps (UTC here), in ms since the
// epoch; NaN when it did not.
function receivedAt(trace, what, status = '') {
  const text = readFileSync(trace, 'utf8');
  const re = /-{10,} (\d{4}-\d\d-\d\d)\s+(\d\d:\d\d:\d\d\.\d+)[^\n]*\n\w+ message received \[\d+\] bytes :\n\n(\S+) (\S+)/g;
  let m;
  while ((m = re.exec(text)))
    if (m[3] === what && (!status || m[4] === status)) return Date.parse(`${m[1]}T${m[2].slice(0, 12)}Z`);
  return NaN;
}

test('the talent calls the client back from the console: his phone sees the proxy number as the caller', async () => {
  const dir = join(tiraid.dir, 'callback');
  mkdirSync(dir);
  const trace = join(dir, 'carrier.trace');
  const carrier = finished(sipp('answer.xml', ['-p', String(CARRIER_PORT), '-mi', CARRIER, '-mp', '17000'], trace));
  await talent.getByRole('button', { name: 'Call by phone' }).click();
  await talent.getByText(`On a call with ${booking.client_alias}`).waitFor(STEP);
  await talent.locator('.call-status .badge', { hasText: 'phone' }).waitFor(STEP);
  const m = await media(talent);
  assert.equal(m.config.iceTransportPolicy, 'relay');
  await talent.getByRole('button', { name: 'Hang up' }).click();
  const { code, out } = await carrier;
  assert.equal(code, 0, out);
  await talent.getByText('The call ended.', { exact: true }).waitFor(STEP);
  const invite = received(trace).find((x) => x.startsWith('INVITE '));
  assert.ok(invite, out);
  assert.match(invite, new RegExp(`^From: <sip:\\${PROXY}@tirai\\.test>`, 'm'));
  assert.match(invite, new RegExp(`^P-Asserted-Identity: <sip:\\${PROXY}@tirai\\.test>`, 'm'));
  assert.match(invite, new RegExp(`^INVITE sip:\\${CLIENT_NUMBER}@${CARRIER.replaceAll('.', '\\.')}:${CARRIER_PORT} `));
  // Nothing of the talent: not her alias, not her address, not her browser's.
  for (const x of received(trace)) {
    assert.ok(!x.includes('natasha'), x);
    assert.ok(!x.includes(HOST), x);
    assert.ok(!/\.invalid/.test(x), x);
    assert.ok(!/JsSIP|tirai/i.test(x.match(/^User-Agent:.*$/m)?.[0] ?? ''), x);
  }
});

test('ending the session mid-call hangs up the phone and the console within a second', async () => {
  const number = '+6281234567891';
  const b = (await tiraid.api('POST', '/v1/sessions', { talent: 'natasha', client: number, package: 'call-60m' })).body;
  await talent.getByRole('button', { name: b.client_alias, exact: true }).click(STEP);
  await talent.getByRole('heading', { name: `Session with ${b.client_alias}` }).waitFor(STEP);
  const dir = join(tiraid.dir, 'session-end');
  mkdirSync(dir);
  const trace = join(dir, 'phone.trace');
  const call = finished(
    sipp('call_until_bye.xml', ['-p', '5072', '-mi', CARRIER, '-mp', '18000', '-s', b.proxy_number, '-set', 'from', number,
      '-set', 'up_port', '0', `${VOICE}:${said.sip.split(':')[1]}`], trace),
  );
  await talent.getByText(`${b.client_alias} is calling`).waitFor(STEP);
  await talent.getByRole('button', { name: 'Answer' }).click();
  await talent.getByText(`On a call with ${b.client_alias}`).waitFor(STEP);
  // The console talks to rtpengine as soon as it has answered; the call is
  // up once Kamailio has passed its answer on (and told the relay).
  const answered = new RegExp(`call \\S+ in ${b.session} answered`);
  await tiraid.waitForLog(answered);
  const endedAt = Date.now();
  assert.equal((await tiraid.api('POST', `/v1/sessions/${b.session}/end`)).status, 200);
  // "The call ended with the session." (or, when the SIP BYE overtook the
  // relay's word of the session's end, "The call ended.").
  await talent.locator('.sys', { hasText: /^The call ended/ }).last().waitFor({ timeout: 1000 });
  const consoleAfter = Date.now() - endedAt;
  const { code, out } = await call;
  assert.equal(code, 0, out);
  const byeAfter = receivedAt(trace, 'BYE') - endedAt;
  assert.ok(byeAfter >= 0 && byeAfter < 1000, `the phone's BYE came ${byeAfter} ms after the end`);
  assert.ok(consoleAfter < 1000, `the console's call ended ${consoleAfter} ms after`);
  await shot(talent, 'phone-session-ended');
});

test('ending the session while the console rings turns the phone away (480) and stops the ringing', async () => {
  const number = '+6281234567892';
  const b = (await tiraid.api('POST', '/v1/sessions', { talent: 'natasha', client: number, package: 'call-60m' })).body;
  await talent.getByRole('button', { name: b.client_alias, exact: true }).click(STEP);
  const dir = join(tiraid.dir, 'ringing-end');
  mkdirSync(dir);
  const trace = join(dir, 'phone.trace');
  const call = finished(
    sipp('call_unanswered.xml', ['-p', '5073', '-mi', CARRIER, '-mp', '19000', '-s', b.proxy_number, '-set', 'from', number,
      `${VOICE}:${said.sip.split(':')[1]}`], trace),
  );
  await talent.getByText(`${b.client_alias} is calling`).waitFor(STEP);
  const endedAt = Date.now();
  assert.equal((await tiraid.api('POST', `/v1/sessions/${b.session}/end`)).status, 200);
  await talent.getByRole('button', { name: 'Answer' }).waitFor({ state: 'detached', timeout: 1000 });
  const { code, out } = await call;
  assert.equal(code, 0, out);
  const answers = received(trace).filter((m) => m.startsWith('SIP/2.0 '));
  assert.ok(answers.some((m) => m.startsWith('SIP/2.0 480 ')), out);
  assert.ok(!answers.some((m) => m.startsWith('SIP/2.0 200 ')), 'the phone was never answered');
  const refusedAfter = receivedAt(trace, 'SIP/2.0', '480') - endedAt;
  assert.ok(refusedAfter >= 0 && refusedAfter < 1000, `the phone's 480 came ${refusedAfter} ms after the end`);
});

test('after the session ends, the console cannot call its client back', async () => {
  await talent.getByRole('button', { name: booking.client_alias, exact: true }).click(STEP);
  const byPhone = talent.getByRole('button', { name: 'Call by phone' });
  await byPhone.waitFor(STEP);
  assert.equal((await tiraid.api('POST', `/v1/sessions/${booking.session}/end`)).status, 200);
  await byPhone.waitFor({ state: 'detached', ...STEP });
});
