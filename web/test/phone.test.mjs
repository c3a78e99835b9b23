// The talent console's phone line (shared/phone.js) and its calls in
// shared/calls.js, with a fake SIP stack standing in for JsSIP: what the
// console asks of it (account, answer options, status codes), and how its
// events become the call's phases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { fakeMicrophone, makeSocket, welcome, SESSION_A } from '../testlib/fakes.mjs';
import { Calls } from '../src/shared/calls.js';
import { isRelayCandidate, phoneEndReason } from '../src/shared/phone.js';

const A = SESSION_A.session;
const VOICE = { ...SESSION_A, channels: ['chat', 'voice'], by_phone: true };
const ICE = { servers: [{ urls: ['turn:198.51.100.7:3478?transport=udp'], username: '1:abc', credential: 'pw' }], transport_policy: 'relay' };
const ACCOUNT = {
  type: 'phone',
  ws: ['wss://sip.example.com:8443'],
  domain: 'voice.example.com',
  username: '1767225600:natasha',
  password: 'c2VjcmV0',
  expires_at: '2026-01-01T00:00:00Z',
  ice: ICE,
};

// JsSIP's RTCSession as the console uses it.
class FakeSipSession extends EventEmitter {
  constructor(handlers = {}) {
    super();
    for (const [name, fn] of Object.entries(handlers)) this.on(name, fn);
    this.answered = null;
    this.terminated = null;
  }
  answer(options) {
    if (this.answered) throw new Error('answered twice');
    this.answered = options;
    this.pc = { connectionState: 'new', closed: false, close() { this.closed = true; } };
    this.emit('peerconnection', { peerconnection: this.pc });
  }
  terminate(options = {}) {
    if (this.terminated) throw new Error('InvalidStateError');
    this.terminated = options;
    this.emit(this.answered ? 'ended' : 'failed', { originator: 'local', cause: this.answered ? 'Terminated' : 'Rejected' });
  }
  // driven by the test
  becomeConnected() {
    this.pc.connectionState = 'connected';
    this.pc.onconnectionstatechange();
  }
}

function fakeSip() {
  const made = { uas: [], sockets: [], calls: [] };
  class WebSocketInterface {
    constructor(url) {
      this.url = url;
      made.sockets.push(this);
    }
  }
  class UA extends EventEmitter {
    constructor(config) {
      super();
      this.config = config;
      this.started = false;
      this.stopped = false;
      made.uas.push(this);
    }
    start() {
      this.started = true;
    }
    stop() {
      this.stopped = true;
    }
    call(target, options) {
      const s = new FakeSipSession(options.eventHandlers);
      s.target = target;
      s.options = options;
      made.calls.push(s);
      return s;
    }
    // driven by the test: a call from outside
    ring(headers) {
      const session = new FakeSipSession();
      this.emit('newRTCSession', { originator: 'remote', session, request: { getHeader: (h) => headers[h] ?? null } });
      return session;
    }
  }
  return { made, sip: { UA, WebSocketInterface } };
}

const tick = () => new Promise((r) => setImmediate(r));


async function setup({ sessions = [VOICE], account = ACCOUNT, mic = 'ok' } = {}) {
  const { relay, sockets, clock, storage } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets, sessions, { calls: true });
  const { made, sip } = fakeSip();
  let loads = 0;
  const { streams, getUserMedia } = fakeMicrophone(mic);
  const calls = new Calls(relay, {
    getUserMedia,
    RTCPeerConnection: class {},
    now: clock.now,
    loadSip: async () => {
      loads += 1;
      return sip;
    },
  });
  if (account) {
    ws.receive(account);
    await tick();
  }
  return { relay, ws, calls, clock, made, streams, storage, loads: () => loads };
}

test('the phone frame registers a SIP account: the alias at the domain, the relay credential, nothing stored', async () => {
  const { made, calls, relay, storage } = await setup();
  assert.equal(made.uas.length, 1);
  const ua = made.uas[0];
  assert.equal(ua.config.uri, 'sip:natasha@voice.example.com');
  assert.equal(ua.config.authorization_user, '1767225600:natasha');
  assert.equal(ua.config.password, 'c2VjcmV0');
  assert.equal(ua.config.register, true);
  assert.deepEqual(made.sockets.map((s) => s.url), ['wss://sip.example.com:8443']);
  assert.ok(ua.started);
  assert.equal(calls.phone.state, 'connecting');
  ua.emit('registered');
  assert.equal(calls.phone.state, 'ready');
  ua.emit('registrationFailed', { cause: 'Rejected' });
  assert.equal(calls.phone.state, 'failed');
  assert.equal(relay.sessions.get(A).byPhone, true);
  // The password is in memory only.
  assert.ok(![...storage.map.values()].some((v) => v.includes('c2VjcmV0')));
});

test('the same account again keeps the registration; a new one replaces it; bad frames are ignored', async () => {
  const { ws, made, loads } = await setup();
  ws.receive(ACCOUNT);
  await tick();
  assert.equal(made.uas.length, 1);
  ws.receive({ ...ACCOUNT, username: '1767229200:natasha', password: 'bmV3' });
  await tick();
  assert.equal(made.uas.length, 2);
  assert.ok(made.uas[0].stopped);
  assert.equal(loads(), 1, 'JsSIP is loaded once');
  for (const bad of [{ ...ACCOUNT, ws: [] }, { ...ACCOUNT, ws: ['http://x'] }, { ...ACCOUNT, password: 5 }, { ...ACCOUNT, username: '17:' }]) {
    ws.receive({ ...bad, username: bad.username === '17:' ? '17:' : 'x:other' });
    await tick();
  }
  assert.equal(made.uas.length, 2);
});

test('a call into the proxy number rings as a phone call of its session, and is answered relay-only', async () => {
  const { made, calls, streams } = await setup();
  made.uas[0].emit('registered');
  const events = [];
  calls.subscribe((e) => events.push(e.kind));
  const sip = made.uas[0].ring({ 'X-Tirai-Session': A });
  assert.equal(calls.call.kind, 'phone');
  assert.equal(calls.call.phase, 'ringing');
  assert.equal(calls.call.session, A);
  assert.equal(calls.call.from, 'guest-7f3k', 'shown as the client alias the relay gave');
  assert.ok(events.includes('ringing'));
  await calls.answer();
  assert.equal(sip.answered.mediaStream, streams[0]);
  assert.equal(sip.answered.pcConfig.iceTransportPolicy, 'relay');
  assert.deepEqual(sip.answered.pcConfig.iceServers, ICE.servers);
  // JsSIP's SDP goes out on the first relay candidate, not after every host one.
  let ready = 0;
  sip.emit('icecandidate', { candidate: { type: 'host', candidate: 'candidate:1 1 udp 1 192.0.2.10 5 typ host' }, ready: () => ready++ });
  assert.equal(ready, 0);
  sip.emit('icecandidate', { candidate: { candidate: 'candidate:2 1 udp 1 198.51.100.7 6 typ relay raddr 0.0.0.0 rport 0' }, ready: () => ready++ });
  assert.equal(ready, 1);
  sip.emit('accepted', {});
  assert.equal(calls.call.phase, 'connecting');
  sip.becomeConnected();
  assert.equal(calls.call.phase, 'active');
});

test('mute, then the client hangs up: the end is noted with the time talked', async () => {
  const { made, calls, streams, relay, clock } = await setup();
  const sip = made.uas[0].ring({ 'X-Tirai-Session': A });
  await calls.answer();
  sip.becomeConnected();
  calls.setMuted(true);
  assert.equal(streams[0].track.enabled, false);
  clock.advance(42000);
  sip.emit('ended', { originator: 'remote', cause: 'Terminated' });
  assert.equal(calls.call.phase, 'ended');
  assert.equal(streams[0].track.stopped, true);
  const note = relay.sessions.get(A).items.at(-1);
  assert.equal(note.code, 'call_ended');
  assert.deepEqual(note.params, { reason: 'hangup', seconds: 42 });
});

test('decline says 603, hang up ends the SIP call, and a second call while one is up is busy (486)', async () => {
  const { made, calls } = await setup();
  const first = made.uas[0].ring({ 'X-Tirai-Session': A });
  calls.decline();
  assert.deepEqual(first.terminated, { status_code: 603 });
  assert.equal(calls.call.reason, 'declined');
  calls.dismiss();
  const second = made.uas[0].ring({ 'X-Tirai-Session': A });
  await calls.answer();
  const third = made.uas[0].ring({ 'X-Tirai-Session': A });
  assert.deepEqual(third.terminated, { status_code: 486 });
  assert.equal(calls.call.sip, second, 'the call up is untouched');
  calls.hangup();
  assert.deepEqual(second.terminated, {});
  assert.equal(calls.call.reason, 'hangup');
});

test('a call naming no session of hers, or none, is refused (480) and never rings', async () => {
  const { made, calls } = await setup();
  const events = [];
  calls.subscribe((e) => events.push(e.kind));
  const foreign = made.uas[0].ring({ 'X-Tirai-Session': 's_zzzzzzzzzzzzzzzzzzzzzzzzzz' });
  const none = made.uas[0].ring({});
  assert.deepEqual(foreign.terminated, { status_code: 480 });
  assert.deepEqual(none.terminated, { status_code: 480 });
  assert.equal(calls.call, null);
  assert.ok(!events.includes('ringing'));
});

test('a microphone refused on Answer ends the SIP call (480) and says why', async () => {
  const { made, calls } = await setup({ mic: 'NotAllowedError' });
  const sip = made.uas[0].ring({ 'X-Tirai-Session': A });
  await calls.answer();
  assert.deepEqual(sip.terminated, { status_code: 480 });
  assert.equal(calls.problem.kind, 'mic_denied');
});

test('calling back by phone dials the session at the domain; busy and refusals are explained', async () => {
  const { made, calls } = await setup();
  await calls.startPhone(A);
  assert.equal(made.calls.length, 0, 'not before the line is registered');
  made.uas[0].emit('registered');
  await calls.startPhone(A);
  const out = made.calls[0];
  assert.equal(out.target, `sip:${A}@voice.example.com`);
  assert.equal(out.options.pcConfig.iceTransportPolicy, 'relay');
  out.emit('progress', {});
  assert.equal(calls.call.phase, 'calling');
  out.emit('failed', { originator: 'remote', cause: 'Busy' });
  assert.equal(calls.call, null);
  assert.deepEqual(calls.problem, { kind: 'refused', code: 'busy', session: A });
  await calls.startPhone(A);
  made.calls[1].emit('failed', { originator: 'remote', cause: 'Not Found' });
  assert.equal(calls.problem.code, 'phone_unavailable');
  await calls.startPhone(A);
  const third = made.calls[2];
  third.emit('accepted', {});
  third.emit('peerconnection', { peerconnection: { connectionState: 'new', close() {} } });
  calls.pc.connectionState = 'connected';
  calls.pc.onconnectionstatechange();
  assert.equal(calls.call.phase, 'active');
});

test('losing the relay connection does not cut a phone call (Kamailio carries it)', async () => {
  const { made, calls, relay, ws } = await setup();
  const sip = made.uas[0].ring({ 'X-Tirai-Session': A });
  await calls.answer();
  sip.becomeConnected();
  ws.drop();
  assert.equal(relay.online, false);
  assert.equal(calls.call.phase, 'active');
  assert.equal(sip.terminated, null);
});

test('the session closing hangs up its phone call in the console too', async () => {
  const { made, calls, ws, relay } = await setup();
  const sip = made.uas[0].ring({ 'X-Tirai-Session': A });
  await calls.answer();
  sip.becomeConnected();
  ws.receive({ type: 'session', session: A, state: 'closing', reason: 'ended_by_operator', grace_seconds: 60 });
  assert.equal(relay.sessions.get(A).state, 'closing');
  assert.deepEqual(sip.terminated, {});
  assert.equal(calls.call.phase, 'ended');
  assert.equal(calls.call.reason, 'session_closed');
  // Ringing when it closes: turned away, never answered.
  calls.dismiss();
  const { made: made2, calls: calls2, ws: ws2 } = await setup();
  const ringing = made2.uas[0].ring({ 'X-Tirai-Session': A });
  ws2.receive({ type: 'session', session: A, state: 'closing', reason: 'expired', grace_seconds: 60 });
  assert.deepEqual(ringing.terminated, { status_code: 480 });
  assert.equal(calls2.call.reason, 'session_closed');
});

test('stop() unregisters the line', async () => {
  const { made, calls } = await setup();
  calls.stop();
  assert.ok(made.uas[0].stopped);
  assert.equal(calls.phone.state, 'off');
});

test('relay candidates and end causes', () => {
  assert.ok(isRelayCandidate({ type: 'relay' }));
  assert.ok(!isRelayCandidate({ type: 'srflx', candidate: 'x typ relay' }));
  assert.ok(isRelayCandidate({ candidate: 'candidate:1 1 udp 5 198.51.100.7 9 typ relay raddr 0.0.0.0 rport 0' }));
  assert.ok(!isRelayCandidate({ candidate: 'candidate:1 1 udp 5 192.0.2.10 9 typ host' }));
  assert.ok(!isRelayCandidate(null));
  assert.equal(phoneEndReason('ringing', { cause: 'Canceled' }), 'no_answer');
  assert.equal(phoneEndReason('active', { cause: 'Terminated' }), 'hangup');
  assert.equal(phoneEndReason('active', { cause: 'RTP Timeout' }), 'failed');
  assert.equal(phoneEndReason('calling', { cause: 'Busy' }), 'busy');
});
