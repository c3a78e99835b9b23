import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSocket, welcome, SESSION_A, SESSION_B } from '../testlib/fakes.mjs';

const A = SESSION_A.session;
const B = SESSION_B.session;

test('a message sent while online goes out at once with a client-made id', () => {
  const { relay, sockets } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'correct horse' });
  const ws = welcome(sockets);
  const id = relay.send(A, 'hello');
  assert.equal(id, 'm1');
  assert.deepEqual(ws.sentOfType('send'), [{ type: 'send', session: A, id: 'm1', text: 'hello' }]);
  const item = relay.sessions.get(A).items.at(-1);
  assert.equal(item.status, 'sending');
  assert.equal(item.mine, true);
  assert.ok(relay.outbox.has('m1'));
});

test('accepted drops the message from the outbox, marks it sent and gives it its seq', () => {
  const { relay, sockets } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets);
  relay.send(A, 'one');
  relay.send(A, 'two');
  ws.receive({ type: 'accepted', id: 'm1', session: A, seq: 3 });
  assert.equal(relay.outbox.size, 1);
  assert.ok(!relay.outbox.has('m1'));
  const items = relay.sessions.get(A).items.filter((i) => i.kind === 'msg');
  assert.deepEqual(
    items.map((i) => [i.text, i.status, i.seq]),
    [
      ['one', 'sent', 3],
      ['two', 'sending', null],
    ],
  );
  // a duplicate accepted (answer to a retry) changes nothing
  ws.receive({ type: 'accepted', id: 'm1', session: A, seq: 3 });
  assert.equal(relay.sessions.get(A).items.filter((i) => i.kind === 'msg').length, 2);
});

test('unaccepted messages are sent again after the next welcome, with their original ids, in order', () => {
  const { relay, sockets, clock } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws1 = welcome(sockets);
  relay.send(A, 'first');
  relay.send(A, 'second');
  ws1.receive({ type: 'accepted', id: 'm1', session: A, seq: 1 });
  ws1.drop();
  assert.equal(relay.status, 'offline');
  // written while offline: queued, not lost
  relay.send(A, 'third');
  assert.equal(ws1.sentOfType('send').length, 2);
  clock.advance(30000);
  assert.equal(sockets.length, 2);
  const ws2 = sockets[1];
  ws2.open();
  assert.deepEqual(ws2.sent.map((f) => f.type), ['hello'], 'nothing is resent before the welcome');
  ws2.receive({ type: 'welcome', role: 'talent', sessions: [SESSION_A] });
  assert.deepEqual(
    ws2.sentOfType('send').map((f) => [f.id, f.text]),
    [
      ['m2', 'second'],
      ['m3', 'third'],
    ],
  );
  ws2.receive({ type: 'accepted', id: 'm2', session: A, seq: 2 });
  ws2.receive({ type: 'accepted', id: 'm3', session: A, seq: 3 });
  assert.equal(relay.outbox.size, 0);
  // and a welcome after that resends nothing more
  ws2.drop();
  clock.advance(30000);
  welcome(sockets);
  assert.equal(sockets[2].sentOfType('send').length, 0);
});

test('an error naming a message marks it failed with its reason and never resends it', () => {
  const { relay, sockets, clock } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets);
  relay.send(A, 'call me on +6281234567');
  ws.receive({ type: 'error', code: 'contact_details_blocked', message: 'no numbers', id: 'm1' });
  const item = relay.sessions.get(A).items.at(-1);
  assert.equal(item.status, 'failed');
  assert.equal(item.failCode, 'contact_details_blocked');
  assert.equal(relay.outbox.size, 0);
  assert.equal(relay.lastError, null, 'it is the message that failed, not the page');
  ws.drop();
  clock.advance(30000);
  const ws2 = welcome(sockets);
  assert.equal(ws2.sentOfType('send').length, 0);
});

test('rate_limited keeps the message and tries it again later with the same id', () => {
  const { relay, sockets, clock } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets);
  relay.send(A, 'quick');
  ws.receive({ type: 'error', code: 'rate_limited', message: 'slow down', id: 'm1' });
  const item = relay.sessions.get(A).items.at(-1);
  assert.equal(item.status, 'sending');
  assert.equal(item.retrying, true);
  assert.ok(relay.outbox.has('m1'));
  clock.advance(10000);
  assert.deepEqual(ws.sentOfType('send').map((f) => f.id), ['m1', 'm1']);
  ws.receive({ type: 'accepted', id: 'm1', session: A, seq: 1 });
  assert.equal(item.status, 'sent');
});

test('a message for a session that closed while offline fails instead of being resent', () => {
  const { relay, sockets, clock, events } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets, [SESSION_A, SESSION_B]);
  ws.drop();
  relay.send(B, 'are you there?');
  relay.send(A, 'still here');
  clock.advance(30000);
  const ws2 = welcome(sockets, [SESSION_A]); // B closed meanwhile
  assert.deepEqual(ws2.sentOfType('send').map((f) => f.text), ['still here']);
  const bItem = relay.sessions.get(B).items.find((i) => i.kind === 'msg');
  assert.equal(bItem.status, 'failed');
  assert.equal(bItem.failCode, 'session_closed');
  assert.equal(relay.sessions.get(B).state, 'closed');
  assert.ok(events.some((e) => e.kind === 'ended' && e.session === B));
});

test('a closed frame fails what is still in that session\'s outbox', () => {
  const { relay, sockets } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets, [SESSION_A, SESSION_B]);
  relay.send(A, 'a');
  relay.send(B, 'b');
  ws.receive({ type: 'session', session: A, state: 'closed', reason: 'expired' });
  assert.deepEqual([...relay.outbox.keys()], ['m2']);
  assert.equal(relay.sessions.get(A).items.find((i) => i.kind === 'msg').status, 'failed');
});

test('an end asked for while offline is sent after the welcome, after the outbox', () => {
  const { relay, sockets, clock } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets);
  ws.drop();
  relay.send(A, 'Our session has ended, thank you');
  relay.end(A);
  clock.advance(30000);
  const ws2 = welcome(sockets);
  assert.deepEqual(
    ws2.sent.map((f) => f.type),
    ['hello', 'send', 'end'],
  );
});
