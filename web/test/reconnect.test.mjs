import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  backoffCeiling,
  backoffDelay,
  wsUrlFor,
  randomId,
  BACKOFF_BASE_MS,
  BACKOFF_MAX_MS,
} from '../src/shared/relay_socket.js';
import { makeSocket, welcome, SESSION_A } from '../testlib/fakes.mjs';

test('the socket URL follows the page: ws for http, wss for https, same host and port', () => {
  assert.equal(wsUrlFor({ protocol: 'http:', host: '127.0.0.1:8080' }), 'ws://127.0.0.1:8080/v1/ws');
  assert.equal(wsUrlFor({ protocol: 'https:', host: 'chat.example' }), 'wss://chat.example/v1/ws');
});

test('the backoff ceiling doubles from 0.5 s and stops at 30 s', () => {
  assert.equal(BACKOFF_BASE_MS, 500);
  assert.equal(BACKOFF_MAX_MS, 30000);
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7, 50].map((n) => backoffCeiling(n)),
    [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000],
  );
});

test('full jitter: every delay lies in [0, ceiling) and they spread over the range', () => {
  for (let attempt = 0; attempt < 12; attempt++) {
    const ceiling = backoffCeiling(attempt);
    assert.equal(backoffDelay(attempt, () => 0), 0);
    assert.equal(backoffDelay(attempt, () => 0.999999), Math.floor(0.999999 * ceiling));
    const seen = [];
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(attempt, Math.random);
      assert.ok(d >= 0 && d < ceiling, `attempt ${attempt}: ${d} not in [0, ${ceiling})`);
      seen.push(d);
    }
    // not all the same: the point of jitter
    assert.ok(new Set(seen).size > 10);
    assert.ok(Math.min(...seen) < ceiling / 2 && Math.max(...seen) >= ceiling / 2);
  }
});

test('ids are 32 hex characters and differ', () => {
  const a = randomId();
  const b = randomId();
  assert.match(a, /^[0-9a-f]{32}$/);
  assert.notEqual(a, b);
});

test('failed connections back off with growing waits, and a welcome resets them', () => {
  const { relay, sockets, clock } = makeSocket({ random: () => 0.999 });
  relay.start({ alias: 'natasha', secret: 'x' });
  assert.equal(relay.status, 'connecting');
  const waits = [];
  for (let i = 0; i < 8; i++) {
    const before = clock.delays.length;
    sockets.at(-1).drop();
    assert.equal(relay.status, 'offline');
    const wait = clock.delays[before];
    waits.push(wait);
    clock.advance(wait - 1);
    assert.equal(sockets.length, i + 1, 'no reconnect before the wait is over');
    clock.advance(1);
    assert.equal(sockets.length, i + 2, 'a reconnect once it is');
    assert.equal(relay.status, 'connecting');
  }
  assert.deepEqual(waits, [499, 999, 1998, 3996, 7992, 15984, 29970, 29970]);
  welcome(sockets);
  assert.equal(relay.status, 'online');
  const before = clock.delays.length;
  sockets.at(-1).drop();
  assert.equal(clock.delays[before], 499, 'after a welcome the backoff starts again at 0.5 s');
});

test('every (re)connect says hello; the relay does the replay', () => {
  const { relay, sockets, clock } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'pw' });
  welcome(sockets);
  sockets[0].drop();
  clock.advance(1000);
  sockets[1].open();
  assert.deepEqual(sockets[1].sent, [{ type: 'hello', role: 'talent', alias: 'natasha', secret: 'pw' }]);
});

test('retryNow skips the wait; the states are connecting, online, offline', () => {
  const { relay, sockets, events } = makeSocket();
  const seen = [];
  relay.subscribe(() => seen.push(relay.status));
  relay.start({ alias: 'natasha', secret: 'x' });
  welcome(sockets);
  sockets[0].drop();
  relay.retryNow();
  assert.equal(sockets.length, 2);
  assert.ok(seen.includes('connecting') && seen.includes('online') && seen.includes('offline'));
  assert.ok(events.some((e) => e.kind === 'welcome'));
});

test('a resume ticket is kept in session storage and used for the next hello, never the secret', () => {
  const { relay, sockets, storage, clock } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'hunter2' });
  welcome(sockets, [SESSION_A], { resume: 'tkt-1' });
  assert.deepEqual([...storage.map.entries()], [['tirai.resume.talent', 'tkt-1']]);
  sockets[0].drop();
  clock.advance(1000);
  sockets[1].open();
  assert.deepEqual(sockets[1].sent[0], { type: 'hello', role: 'talent', resume: 'tkt-1' });
  for (const v of storage.map.values()) assert.ok(!v.includes('hunter2'));
  // the relay forgot the ticket (it restarted): the secret, still in memory, logs in again
  sockets[1].receive({ type: 'error', code: 'auth_failed', message: 'no' });
  sockets[1].drop(1008);
  assert.equal(storage.map.size, 0);
  sockets[2].open();
  assert.deepEqual(sockets[2].sent[0], { type: 'hello', role: 'talent', alias: 'natasha', secret: 'hunter2' });
  assert.equal(relay.status, 'connecting');
});

test('without a ticket the secret stays in memory only and reconnects with it', () => {
  const { relay, sockets, storage, clock } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'hunter2' });
  welcome(sockets);
  assert.equal(storage.map.size, 0);
  sockets[0].drop();
  clock.advance(1000);
  sockets[1].open();
  assert.equal(sockets[1].sent[0].secret, 'hunter2');
});

test('a stored ticket that fails is dropped; with nothing else the page asks to log in', () => {
  const { relay, sockets, storage, events, clock } = makeSocket();
  storage.setItem('tirai.resume.talent', 'old');
  relay.start();
  sockets[0].open();
  assert.deepEqual(sockets[0].sent[0], { type: 'hello', role: 'talent', resume: 'old' });
  sockets[0].receive({ type: 'error', code: 'auth_failed', message: 'no' });
  sockets[0].drop(1008);
  assert.equal(storage.getItem('tirai.resume.talent'), null);
  assert.equal(relay.status, 'auth_failed');
  assert.equal(relay.authFailure, 'resume');
  assert.ok(events.some((e) => e.kind === 'auth_failed'));
  clock.advance(120000);
  assert.equal(sockets.length, 1, 'no reconnect after a failed hello');
});

test('a failed ticket falls back to the credentials still in memory', () => {
  const client = makeSocket({ role: 'client' });
  client.relay.start({ token: 'tok' });
  client.sockets[0].open();
  client.sockets[0].receive({ type: 'welcome', role: 'client', sessions: [SESSION_A] });
  assert.equal(client.storage.map.size, 0);
  // a relay that gave no ticket, then a stale one in storage
  client.storage.setItem('tirai.resume.client', 'stale');
  client.sockets[0].drop();
  client.clock.advance(1000);
  client.sockets[1].open();
  assert.deepEqual(client.sockets[1].sent[0], { type: 'hello', role: 'client', resume: 'stale' });
  client.sockets[1].receive({ type: 'error', code: 'auth_failed', message: 'no' });
  client.sockets[1].drop(1008);
  assert.equal(client.sockets.length, 3);
  client.sockets[2].open();
  assert.deepEqual(client.sockets[2].sent[0], { type: 'hello', role: 'client', token: 'tok' });
  assert.equal(client.storage.getItem('tirai.resume.client'), null);
});

test('wrong credentials: auth_failed, no retry, credentials forgotten', () => {
  const { relay, sockets, clock } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'wrong' });
  sockets[0].open();
  sockets[0].receive({ type: 'error', code: 'auth_failed', message: 'authentication failed' });
  sockets[0].drop(1008);
  assert.equal(relay.status, 'auth_failed');
  assert.equal(relay.authFailure, 'credentials');
  assert.equal(relay.credentials, null);
  clock.advance(60000);
  assert.equal(sockets.length, 1);
});

test('logout tells the relay, forgets everything and does not reconnect', () => {
  const { relay, sockets, storage, clock } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(sockets, [SESSION_A], { resume: 't' });
  relay.send(A(), 'pending');
  relay.logout();
  assert.deepEqual(ws.sent.at(-1), { type: 'logout' });
  assert.equal(ws.closedWith, 1000);
  assert.equal(storage.map.size, 0);
  assert.equal(relay.sessions.size, 0);
  assert.equal(relay.outbox.size, 0);
  clock.advance(60000);
  assert.equal(sockets.length, 1);
});

test('delete_account: a connection lost before the answer is reported, and not "busy" for ever', () => {
  const one = makeSocket();
  one.relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(one.sockets, [SESSION_A], { resume: 't' });
  assert.equal(one.relay.deleteAccount('x'), true);
  ws.drop(1006);
  assert.ok(one.events.some((e) => e.kind === 'delete_failed' && e.code === 'connection_lost'));
  assert.equal(one.relay.pendingDelete, false);
  // An error on the next connection is not taken for the deletion's answer.
  const before = one.events.filter((e) => e.kind === 'delete_failed').length;
  one.clock.advance(60000);
  const again = welcome(one.sockets, [SESSION_A], { resume: 't' });
  again.receive({ type: 'error', code: 'not_in_session', message: 'x' });
  assert.equal(one.events.filter((e) => e.kind === 'delete_failed').length, before);
});

test('delete_account: account_deleted clears everything; an error is reported', () => {
  const one = makeSocket();
  one.relay.start({ alias: 'natasha', secret: 'x' });
  const ws = welcome(one.sockets, [SESSION_A], { resume: 't' });
  assert.equal(one.relay.deleteAccount('x'), true);
  assert.deepEqual(ws.sent.at(-1), { type: 'delete_account', secret: 'x' });
  ws.receive({ type: 'error', code: 'unknown_type', message: 'unknown type' });
  assert.ok(one.events.some((e) => e.kind === 'delete_failed' && e.code === 'unknown_type'));
  one.relay.deleteAccount('x');
  ws.receive({ type: 'account_deleted' });
  assert.equal(one.relay.status, 'deleted');
  assert.equal(one.storage.map.size, 0);
  assert.equal(one.relay.sessions.size, 0);
  ws.drop(1000);
  one.clock.advance(60000);
  assert.equal(one.sockets.length, 1);
});

function A() {
  return SESSION_A.session;
}

test('without session storage the ticket is kept in memory for this page', () => {
  const { relay, sockets, clock } = makeSocket({ storage: null });
  relay.start({ alias: 'natasha', secret: 'pw' });
  welcome(sockets, [SESSION_A], { resume: 'mem-ticket' });
  sockets[0].drop();
  clock.advance(1000);
  sockets[1].open();
  assert.deepEqual(sockets[1].sent[0], { type: 'hello', role: 'talent', resume: 'mem-ticket' });
});

test('refused after having been in (account removed) asks to log in again, not "wrong secret"', () => {
  const { relay, sockets, clock } = makeSocket();
  relay.start({ alias: 'natasha', secret: 'pw' });
  welcome(sockets);
  sockets[0].drop();
  clock.advance(1000);
  sockets[1].open();
  sockets[1].receive({ type: 'error', code: 'auth_failed', message: 'no' });
  assert.equal(relay.status, 'auth_failed');
  assert.equal(relay.authFailure, 'resume');
});
