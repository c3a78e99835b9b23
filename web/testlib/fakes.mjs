// Fakes for the unit tests: a WebSocket the test drives by hand, a clock
// and timers the test moves, a sessionStorage. Not a test file itself.
import { RelaySocket } from '../src/shared/relay_socket.js';

export class FakeClock {
  constructor(start = Date.parse('2025-01-01T10:00:00Z')) {
    this.t = start;
    this.timers = new Map();
    this.nextId = 1;
    this.delays = []; // every delay asked for, in order
  }
  now = () => this.t;
  setTimeout = (fn, ms) => {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + ms, fn });
    this.delays.push(ms);
    return id;
  };
  clearTimeout = (id) => {
    this.timers.delete(id);
  };
  // Moves the clock on by `ms`, running every timer that falls due, in order.
  advance(ms) {
    const end = this.t + ms;
    for (;;) {
      let next = null;
      for (const [id, timer] of this.timers) if (timer.at <= end && (!next || timer.at < next[1].at)) next = [id, timer];
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
  pending() {
    return this.timers.size;
  }
}

export class MemoryStorage {
  constructor() {
    this.map = new Map();
  }
  getItem(k) {
    return this.map.has(k) ? this.map.get(k) : null;
  }
  setItem(k, v) {
    this.map.set(k, String(v));
  }
  removeItem(k) {
    this.map.delete(k);
  }
  clear() {
    this.map.clear();
  }
}

// Every socket made is kept in `sockets`; the test opens them, feeds them
// frames and closes them.
export function fakeWebSocketClass() {
  const sockets = [];
  class FakeWebSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.closedWith = null;
      sockets.push(this);
    }
    send(data) {
      if (this.readyState !== 1) throw new Error('send while not open');
      this.sent.push(JSON.parse(data));
    }
    close(code) {
      this.closedWith = code;
      this.readyState = 3;
    }
    // driven by the test
    open() {
      this.readyState = 1;
      this.onopen && this.onopen({});
    }
    receive(frame) {
      this.onmessage && this.onmessage({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
    }
    drop(code = 1006) {
      this.readyState = 3;
      this.onclose && this.onclose({ code });
    }
    sentOfType(type) {
      return this.sent.filter((f) => f.type === type);
    }
  }
  return { FakeWebSocket, sockets };
}

export const SESSION_A = {
  session: 's_aaaaaaaaaaaaaaaaaaaaaaaaaa',
  peer: 'guest-7f3k',
  package: 'chat-30m',
  channels: ['chat'],
  state: 'active',
  expires_at: '2025-01-01T10:30:00Z',
  client: { verified: true, rating: { average: 4.5, count: 2 } },
};
export const SESSION_B = {
  session: 's_bbbbbbbbbbbbbbbbbbbbbbbbbb',
  peer: 'guest-q2mx',
  package: 'chat-60m',
  channels: ['chat', 'voice'],
  state: 'open',
  expires_at: '2025-01-01T11:00:00Z',
  client: { verified: false, rating: { average: null, count: 0 } },
};

// A talent's socket with everything fake; ids are m1, m2, …
export function makeSocket(overrides = {}) {
  const clock = new FakeClock();
  const { FakeWebSocket, sockets } = fakeWebSocketClass();
  const storage = new MemoryStorage();
  let n = 0;
  const relay = new RelaySocket({
    role: 'talent',
    url: 'ws://relay.test/v1/ws',
    WebSocket: FakeWebSocket,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    now: clock.now,
    random: () => 0.5,
    storage,
    newId: () => 'm' + ++n,
    ...overrides,
  });
  const events = [];
  relay.subscribe((e) => events.push(e));
  return { relay, clock, sockets, storage, events, last: () => sockets[sockets.length - 1] };
}

// Opens the newest socket and answers its hello with a welcome.
export function welcome(sockets, sessions = [SESSION_A], extra = {}) {
  const ws = sockets[sockets.length - 1];
  ws.open();
  ws.receive({ type: 'welcome', role: 'talent', sessions, ...extra });
  return ws;
}

// A fake microphone for Calls: getUserMedia() that yields streams of one
// audio track (kept in `streams`), or fails with the error name `mic`.
export function fakeMicrophone(mic = 'ok') {
  const streams = [];
  const getUserMedia = async () => {
    if (mic !== 'ok') throw Object.assign(new Error('no'), { name: mic });
    const track = { enabled: true, stopped: false, stop() { this.stopped = true; } };
    const s = { track, getAudioTracks: () => [track], getTracks: () => [track] };
    streams.push(s);
    return s;
  };
  return { streams, getUserMedia };
}
