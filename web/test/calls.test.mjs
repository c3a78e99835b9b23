import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeMicrophone, makeSocket, welcome, SESSION_A } from '../testlib/fakes.mjs';
import { Calls, micProblem } from '../src/shared/calls.js';

const A = SESSION_A.session;
const VOICE = { ...SESSION_A, channels: ['chat', 'voice'] };
const ICE = { servers: [{ urls: ['turn:198.51.100.7:3478?transport=udp'], username: '1:abc', credential: 'pw' }], transport_policy: 'relay' };

// A stand-in for the browser's RTCPeerConnection: it records what the page
// asks of it, and the test plays the network (connection state, tracks).
class FakePC {
  static made = [];
  constructor(config) {
    this.config = config;
    this.tracks = [];
    this.added = [];
    this.remoteDescription = null;
    this.localDescription = null;
    this.closed = false;
    this.connectionState = 'new';
    FakePC.made.push(this);
  }
  addTrack(track) {
    this.tracks.push(track);
  }
  async createOffer() {
    return { type: 'offer', sdp: 'v=0 offer' };
  }
  async createAnswer() {
    return { type: 'answer', sdp: 'v=0 answer' };
  }
  async setLocalDescription(d) {
    this.localDescription = d;
  }
  async setRemoteDescription(d) {
    this.remoteDescription = d;
  }
  async addIceCandidate(c) {
    this.added.push(c);
  }
  close() {
    this.closed = true;
  }
  become(state) {
    this.connectionState = state;
    this.onconnectionstatechange();
  }
}


function setup({ mic = 'ok' } = {}) {
  const { relay, sockets, clock } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets, [VOICE]);
  const { streams, getUserMedia } = fakeMicrophone(mic);
  const calls = new Calls(relay, {
    getUserMedia,
    RTCPeerConnection: FakePC,
    now: clock.now,
  });
  FakePC.made = [];
  return { relay, ws, calls, clock, streams };
}

const tick = () => new Promise((r) => setImmediate(r));
const callFrames = (ws) => ws.sentOfType('call');

test('calling: the microphone first, then start; the offer once answered, relay-only ICE', async () => {
  const { ws, calls, streams } = setup();
  await calls.start(A);
  const [start] = callFrames(ws);
  assert.equal(start.action, 'start');
  assert.equal(start.session, A);
  assert.match(start.id, /^call-/);
  assert.equal(calls.call.phase, 'starting');
  ws.receive({ type: 'call', action: 'started', session: A, call: 'c_1', id: start.id, ice: ICE });
  assert.equal(calls.call.phase, 'calling');
  ws.receive({ type: 'call', action: 'accepted', session: A, call: 'c_1' });
  await tick();
  assert.equal(FakePC.made.length, 1);
  const pc = FakePC.made[0];
  assert.equal(pc.config.iceTransportPolicy, 'relay');
  assert.deepEqual(pc.config.iceServers, ICE.servers);
  assert.deepEqual(pc.tracks, [streams[0].track]);
  const sdp = callFrames(ws).find((f) => f.action === 'sdp');
  assert.deepEqual(sdp, { type: 'call', session: A, call: 'c_1', action: 'sdp', sdp: { type: 'offer', sdp: 'v=0 offer' } });
  pc.onicecandidate({ candidate: { toJSON: () => ({ candidate: 'candidate:1 1 udp 1 198.51.100.7 5 typ relay', sdpMid: '0', sdpMLineIndex: 0 }) } });
  assert.equal(callFrames(ws).at(-1).action, 'candidate');
  // candidates before the answer wait for it
  ws.receive({ type: 'call', action: 'candidate', session: A, call: 'c_1', candidate: { candidate: 'candidate:2 1 udp 1 198.51.100.7 6 typ relay raddr 0.0.0.0 rport 0', sdpMid: '0', sdpMLineIndex: 0 } });
  assert.equal(pc.added.length, 0);
  ws.receive({ type: 'call', action: 'sdp', session: A, call: 'c_1', sdp: { type: 'answer', sdp: 'v=0 answer' } });
  await tick();
  assert.equal(pc.remoteDescription.type, 'answer');
  assert.equal(pc.added.length, 1);
  pc.become('connected');
  assert.equal(calls.call.phase, 'active');
});

test('called: it rings, Answer takes the microphone, accepts and answers the offer', async () => {
  const { ws, calls } = setup();
  const events = [];
  calls.subscribe((e) => events.push(e.kind));
  ws.receive({ type: 'call', action: 'ringing', session: A, call: 'c_9', from: 'guest-7f3k', ice: ICE });
  assert.equal(calls.call.phase, 'ringing');
  assert.equal(calls.call.from, 'guest-7f3k');
  assert.ok(events.includes('ringing'));
  await calls.answer();
  assert.equal(callFrames(ws).at(-1).action, 'accept');
  ws.receive({ type: 'call', action: 'sdp', session: A, call: 'c_9', sdp: { type: 'offer', sdp: 'v=0 offer' } });
  await tick();
  await tick();
  const answer = callFrames(ws).at(-1);
  assert.equal(answer.action, 'sdp');
  assert.equal(answer.sdp.type, 'answer');
});

test('mute turns the microphone track off and on', async () => {
  const { ws, calls, streams } = setup();
  ws.receive({ type: 'call', action: 'ringing', session: A, call: 'c_9', from: 'g', ice: ICE });
  await calls.answer();
  calls.setMuted(true);
  assert.equal(streams[0].track.enabled, false);
  assert.equal(calls.call.muted, true);
  calls.setMuted(false);
  assert.equal(streams[0].track.enabled, true);
});

test('the end: media closed, microphone released, a line in the conversation with the time', async () => {
  const { ws, calls, streams, relay, clock } = setup();
  ws.receive({ type: 'call', action: 'ringing', session: A, call: 'c_9', from: 'g', ice: ICE });
  await calls.answer();
  const pc = FakePC.made[0];
  pc.become('connected');
  clock.advance(65000);
  ws.receive({ type: 'call', action: 'ended', session: A, call: 'c_9', reason: 'session_closed', seconds: 65 });
  assert.equal(calls.call.phase, 'ended');
  assert.equal(pc.closed, true);
  assert.equal(streams[0].track.stopped, true);
  const note = relay.sessions.get(A).items.at(-1);
  assert.equal(note.code, 'call_ended');
  assert.deepEqual(note.params, { reason: 'session_closed', seconds: 65 });
});

test('hanging up: the relay is told and its count of the time wins', async () => {
  const { ws, calls, relay, clock } = setup();
  await calls.start(A);
  const id = callFrames(ws)[0].id;
  ws.receive({ type: 'call', action: 'started', session: A, call: 'c_1', id, ice: ICE });
  ws.receive({ type: 'call', action: 'accepted', session: A, call: 'c_1' });
  await tick();
  FakePC.made[0].become('connected');
  clock.advance(30000);
  calls.hangup();
  assert.deepEqual(callFrames(ws).at(-1), { type: 'call', session: A, call: 'c_1', action: 'hangup' });
  ws.receive({ type: 'call', action: 'ended', session: A, call: 'c_1', reason: 'hangup', seconds: 31 });
  assert.equal(relay.sessions.get(A).items.at(-1).params.seconds, 31);
});

test('no microphone or no permission: explained, and nothing rings', async () => {
  for (const [name, kind] of [
    ['NotAllowedError', 'mic_denied'],
    ['NotFoundError', 'mic_missing'],
    ['AbortError', 'mic_failed'],
  ]) {
    const { ws, calls } = setup({ mic: name });
    await calls.start(A);
    assert.equal(callFrames(ws).length, 0);
    assert.equal(calls.problem.kind, kind);
    assert.equal(calls.call, null);
    assert.equal(micProblem({ name }), kind);
  }
  // Called without a microphone: declined, and said why.
  const { ws, calls } = setup({ mic: 'NotAllowedError' });
  ws.receive({ type: 'call', action: 'ringing', session: A, call: 'c_9', from: 'g', ice: ICE });
  await calls.answer();
  assert.equal(callFrames(ws).at(-1).action, 'decline');
  assert.equal(calls.problem.kind, 'mic_denied');
});

test('a start the relay refuses shows its reason; a second call ringing meanwhile is declined', async () => {
  const { ws, calls, relay } = setup();
  await calls.start(A);
  const id = callFrames(ws)[0].id;
  ws.receive({ type: 'error', code: 'busy', message: 'a call is already up', id });
  assert.equal(calls.call, null);
  assert.deepEqual(calls.problem, { kind: 'refused', code: 'busy', session: A });
  assert.equal(relay.lastError, null); // not an alert of its own

  ws.receive({ type: 'call', action: 'ringing', session: A, call: 'c_1', from: 'g', ice: ICE });
  ws.receive({ type: 'call', action: 'ringing', session: 's_other', call: 'c_2', from: 'h', ice: ICE });
  assert.deepEqual(callFrames(ws).at(-1), { type: 'call', action: 'decline', session: 's_other', call: 'c_2' });
  assert.equal(calls.call.id, 'c_1');
});

test('ICE that fails ends the call as failed, and a lost relay connection ends it here too', async () => {
  const { ws, calls, relay } = setup();
  ws.receive({ type: 'call', action: 'ringing', session: A, call: 'c_9', from: 'g', ice: ICE });
  await calls.answer();
  FakePC.made[0].become('failed');
  assert.deepEqual(callFrames(ws).at(-1), { type: 'call', session: A, call: 'c_9', action: 'hangup', reason: 'failed' });
  assert.equal(calls.call.reason, 'failed');

  ws.receive({ type: 'call', action: 'ringing', session: A, call: 'c_10', from: 'g', ice: ICE });
  await calls.answer();
  ws.drop(1006);
  assert.equal(relay.online, false);
  assert.equal(calls.call.reason, 'connection_lost');
  assert.equal(FakePC.made[1].closed, true);
});

test('the call-time warning is kept for the view', () => {
  const { ws, calls } = setup();
  ws.receive({ type: 'call', action: 'ringing', session: A, call: 'c_9', from: 'g', ice: ICE });
  ws.receive({ type: 'call', action: 'expiring', session: A, call: 'c_9', seconds: 60 });
  assert.equal(calls.call.secondsLeft, 60);
});
