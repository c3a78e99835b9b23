import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSocket, welcome, SESSION_A, SESSION_B } from '../testlib/fakes.mjs';

const A = SESSION_A.session;
const B = SESSION_B.session;

function msg(seq, text, session = A) {
  return { type: 'message', session, seq, from: 'guest-7f3k', text, sent_at: '2025-01-01T10:01:00Z' };
}

function texts(relay, session = A) {
  return relay.sessions.get(session).items.filter((i) => i.kind === 'msg').map((i) => i.text);
}

test('messages are kept in seq order whatever order they arrive in', () => {
  const { relay, sockets } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets);
  ws.receive(msg(2, 'two'));
  ws.receive(msg(5, 'five'));
  ws.receive(msg(1, 'one'));
  ws.receive(msg(4, 'four'));
  assert.deepEqual(texts(relay), ['one', 'two', 'four', 'five']);
});

test('a replayed message (same session and seq) is shown once', () => {
  const { relay, sockets, clock, events } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets);
  ws.receive(msg(1, 'hi'));
  ws.receive(msg(2, 'there'));
  ws.drop();
  clock.advance(1000);
  const ws2 = welcome(sockets);
  ws2.receive(msg(1, 'hi'));
  ws2.receive(msg(2, 'there'));
  ws2.receive(msg(3, 'new'));
  assert.deepEqual(texts(relay), ['hi', 'there', 'new']);
  assert.equal(events.filter((e) => e.kind === 'message').length, 3, 'one message event per message');
});

test('the same seq in two sessions is two messages', () => {
  const { relay, sockets } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets, [SESSION_A, SESSION_B]);
  ws.receive(msg(1, 'to A', A));
  ws.receive(msg(1, 'to B', B));
  assert.deepEqual(texts(relay, A), ['to A']);
  assert.deepEqual(texts(relay, B), ['to B']);
});

test('our own messages take their place by the seq the relay gave them', () => {
  const { relay, sockets } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets);
  ws.receive(msg(1, 'peer 1'));
  relay.send(A, 'mine');
  ws.receive(msg(2, 'peer 2'));
  // not accepted yet: at the end
  assert.deepEqual(texts(relay), ['peer 1', 'peer 2', 'mine']);
  ws.receive({ type: 'accepted', id: 'm1', session: A, seq: 3 });
  ws.receive(msg(4, 'peer 4'));
  assert.deepEqual(texts(relay), ['peer 1', 'peer 2', 'mine', 'peer 4']);
  // accepted before a peer message that had been sent earlier
  relay.send(A, 'mine too');
  ws.receive({ type: 'accepted', id: 'm2', session: A, seq: 6 });
  ws.receive(msg(5, 'peer 5'));
  assert.deepEqual(texts(relay), ['peer 1', 'peer 2', 'mine', 'peer 4', 'peer 5', 'mine too']);
});

test('notices become system lines after the messages that came before them', () => {
  const { relay, sockets } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets);
  ws.receive(msg(1, 'hello'));
  ws.receive({ type: 'session', session: A, state: 'active', notice: 'expiring', expires_in: 300 });
  ws.receive(msg(2, 'bye'));
  ws.receive({ type: 'session', session: A, state: 'closing', reason: 'ended_by_client', grace_seconds: 60 });
  const lines = relay.sessions.get(A).items.map((i) => (i.kind === 'msg' ? i.text : '#' + i.code));
  assert.deepEqual(lines, ['hello', '#expiring', 'bye', '#closing']);
});

test('acks are cumulative, per session, sent when flushed, and again after a reconnect', () => {
  const { relay, sockets, clock } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets, [SESSION_A, SESSION_B]);
  ws.receive(msg(1, 'a1'));
  ws.receive(msg(2, 'a2'));
  ws.receive(msg(3, 'a3'));
  ws.receive(msg(7, 'b7', B));
  assert.equal(ws.sentOfType('ack').length, 0, 'not before the view has drawn them');
  relay.flushAcks();
  assert.deepEqual(ws.sentOfType('ack'), [
    { type: 'ack', session: A, seq: 3 },
    { type: 'ack', session: B, seq: 7 },
  ]);
  relay.flushAcks();
  assert.equal(ws.sentOfType('ack').length, 2, 'nothing new, nothing sent');
  ws.drop();
  clock.advance(1000);
  const ws2 = welcome(sockets, [SESSION_A, SESSION_B]);
  ws2.receive(msg(3, 'a3'));
  relay.flushAcks();
  assert.deepEqual(ws2.sentOfType('ack'), [
    { type: 'ack', session: A, seq: 3 },
    { type: 'ack', session: B, seq: 7 },
  ]);
});

test('unread counts messages outside the focused session only', () => {
  const { relay, sockets } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets, [SESSION_A, SESSION_B]);
  relay.setFocus(A);
  ws.receive(msg(1, 'seen', A));
  ws.receive(msg(1, 'unseen', B));
  ws.receive(msg(2, 'unseen too', B));
  assert.equal(relay.sessions.get(A).unread, 0);
  assert.equal(relay.sessions.get(B).unread, 2);
  relay.setFocus(B);
  assert.equal(relay.sessions.get(B).unread, 0);
});

test('a booking after the welcome adds a session; closing and closed update it', () => {
  const { relay, sockets, clock, events } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets, [SESSION_A]);
  ws.receive({ type: 'session', ...SESSION_B });
  assert.deepEqual([...relay.sessions.keys()], [A, B]);
  assert.equal(relay.sessions.get(B).peer, 'guest-q2mx');
  assert.ok(events.some((e) => e.kind === 'booked' && e.session === B));
  ws.receive({ type: 'session', session: B, state: 'closing', reason: 'ended_by_talent', grace_seconds: 60 });
  const s = relay.sessions.get(B);
  assert.equal(s.state, 'closing');
  assert.equal(s.reason, 'ended_by_talent');
  assert.equal(s.graceEndsAtMs, clock.now() + 60000);
  ws.receive({ type: 'session', session: B, state: 'closed', reason: 'ended_by_talent' });
  assert.equal(s.state, 'closed');
  assert.ok(events.some((e) => e.kind === 'ended' && e.session === B));
  ws.receive({ type: 'rated', session: B, score: 4 });
  assert.equal(s.rated, 4);
  relay.dismiss(B);
  assert.ok(!relay.sessions.has(B));
});

test('an expiring notice sets the end by the relay\'s clock; a quota notice keeps the count', () => {
  const { relay, sockets, clock } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets);
  ws.receive({ type: 'session', session: A, state: 'active', notice: 'expiring', expires_in: 300 });
  assert.equal(relay.sessions.get(A).expiresAtMs, clock.now() + 300000);
  ws.receive({ type: 'session', session: A, state: 'active', notice: 'quota', remaining: 5 });
  assert.equal(relay.sessions.get(A).quotaRemaining, 5);
  assert.equal(relay.sessions.get(A).state, 'active');
});

test('garbage and unknown frames change nothing', () => {
  const { relay, sockets } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets);
  ws.receive('not json');
  ws.receive('null');
  ws.receive({ type: 'call', action: 'ringing' });
  ws.receive({ type: 'message', session: A, seq: 'x', text: 'bad seq' });
  assert.deepEqual(texts(relay), []);
  assert.equal(relay.status, 'online');
});

test('the first message makes an open session active', () => {
  const { relay, sockets } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets, [SESSION_B]);
  assert.equal(relay.sessions.get(B).state, 'open');
  ws.receive(msg(1, 'hi', B));
  assert.equal(relay.sessions.get(B).state, 'active');
});

test('a message that fails stays where it was written, not at the end', () => {
  const { relay, sockets } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets);
  ws.receive(msg(1, 'peer 1'));
  relay.send(A, 'my number is …');
  relay.send(A, 'pending');
  ws.receive(msg(2, 'peer 2'));
  ws.receive({ type: 'error', code: 'contact_details_blocked', message: 'no', id: 'm1' });
  ws.receive(msg(3, 'peer 3'));
  assert.deepEqual(texts(relay), ['peer 1', 'my number is …', 'peer 2', 'peer 3', 'pending']);
});
