// The connection of a talent console or client page to the relay's /v1/ws
// (design §5), and the state the views draw: the sessions, each one's
// conversation ordered by seq, and the outbox of messages the relay has not
// accepted yet. No DOM here: the WebSocket constructor, the timers, the
// clock, randomness and the session storage are passed in, so node tests can
// drive it with a fake socket and a fake clock.
import { graceEndsAt, parseTime } from './countdown.js';

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 30000;
// A message refused with rate_limited is tried again after this, plus jitter.
export const RATE_LIMIT_RETRY_MS = 4000;

const OPEN = 1; // WebSocket.OPEN

// ws://host/v1/ws for a page served over http, wss:// for https.
export function wsUrlFor(loc) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/v1/ws`;
}

// The largest wait before reconnect attempt `attempt` (0 for the first).
export function backoffCeiling(attempt, base = BACKOFF_BASE_MS, max = BACKOFF_MAX_MS) {
  return Math.min(max, base * Math.pow(2, Math.min(attempt, 30)));
}

// "Full jitter": anywhere from 0 up to the ceiling, so that many phones cut
// off together do not come back in step.
export function backoffDelay(attempt, random = Math.random, base = BACKOFF_BASE_MS, max = BACKOFF_MAX_MS) {
  return Math.floor(random() * backoffCeiling(attempt, base, max));
}

// A message id: 16 random bytes as 32 hex characters (works outside secure
// contexts too, unlike crypto.randomUUID).
export function randomId(cryptoObj = globalThis.crypto) {
  const b = new Uint8Array(16);
  cryptoObj.getRandomValues(b);
  let s = '';
  for (const x of b) s += (x < 16 ? '0' : '') + x.toString(16);
  return s;
}

function byPosition(a, b) {
  return a.sortSeq - b.sortSeq || a.order - b.order;
}

export class RelaySocket {
  // opts: role ('talent'|'client'), url, WebSocket, and optionally
  // setTimeout, clearTimeout, now, random, storage (sessionStorage-like, or
  // null), newId.
  constructor(opts) {
    this.role = opts.role;
    this.url = opts.url;
    this.WebSocket = opts.WebSocket;
    this.setTimeout = opts.setTimeout || ((f, ms) => globalThis.setTimeout(f, ms));
    this.clearTimeout = opts.clearTimeout || ((t) => globalThis.clearTimeout(t));
    this.now = opts.now || (() => Date.now());
    this.random = opts.random || Math.random;
    this.storage = opts.storage || null;
    this.storageKey = `tirai.resume.${this.role}`;
    this.ticketInMemory = null;
    this.newId = opts.newId || (() => randomId());

    // The secret or token, in this page's memory only (never stored): for
    // reconnects when the relay gives no resume ticket or forgets it.
    this.credentials = null;
    this.alias = null; // our own alias when known (talent)
    this.callsEnabled = false; // the relay's welcome says whether it has calls
    // idle | connecting | online | offline | auth_failed | stopped | deleted
    this.status = 'idle';
    this.authFailure = null; // 'credentials' | 'resume' | 'missing'
    this.everOnline = false;
    this.retryAt = NaN;
    this.lastError = null; // {code, message} of the last error that had no home
    this.sessions = new Map(); // id → session, in the order they came
    this.outbox = new Map(); // message id → {id, session, text, retryTimer}
    this.pendingEnds = new Set();
    this.pendingDelete = false;
    this.focused = null; // the session the person is looking at
    this.listeners = new Set();

    this.ws = null;
    this.welcomed = false; // on the current connection
    this.usedResume = false; // the current connection's hello used a ticket
    this.retryWithCredentials = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.started = false; // start() not called yet
    this.stopped = true;
    this.order = 0;
  }

  // ---- observing ----

  // fn(event) after every change; event.kind is 'change', 'message' (with
  // session and item: a message from the peer, new to us), 'welcome',
  // 'booked', 'error', 'auth_failed', 'delete_failed', 'deleted', 'ended',
  // 'call' (with frame), 'call_error' (a start refused: id, code) and 'phone'
  // (with frame: a talent's SIP account).
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(event) {
    for (const fn of [...this.listeners]) fn(event);
  }

  get online() {
    return this.status === 'online';
  }

  // The resume ticket: in sessionStorage, so that a reload keeps it; in
  // memory when there is no storage or it refuses (private mode, quota).
  storedTicket() {
    try {
      if (this.storage) return this.storage.getItem(this.storageKey);
    } catch {
      // fall back to memory
    }
    return this.ticketInMemory;
  }

  storeTicket(ticket) {
    this.ticketInMemory = ticket || null;
    try {
      if (!this.storage) return;
      if (ticket) this.storage.setItem(this.storageKey, ticket);
      else this.storage.removeItem(this.storageKey);
    } catch {
      // refused: the copy in memory serves this page
    }
  }

  // ---- lifecycle ----

  // Connects with `credentials` ({alias, secret} for a talent, {token} for a
  // client), or with the stored resume ticket when none are given.
  start(credentials) {
    this.started = true;
    if (credentials) {
      this.credentials = { ...credentials };
      if (credentials.alias) this.alias = credentials.alias;
      // New credentials win over an old ticket (a new link, another login).
      this.storeTicket(null);
    }
    if (this.ws) {
      const old = this.ws;
      this.ws = null;
      try {
        old.close(1000);
      } catch {
        // already closing
      }
    }
    if (this.retryTimer !== null) this.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.stopped = false;
    this.authFailure = null;
    this.attempt = 0;
    this.connect();
  }

  // Stops for good: no reconnect. The state stays for the views.
  stop(status = 'stopped') {
    this.stopped = true;
    this.status = status;
    if (this.retryTimer !== null) this.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    for (const entry of this.outbox.values()) this.clearEntryTimer(entry);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      try {
        ws.close(1000);
      } catch {
        // already closing
      }
    }
    this.emit({ kind: 'change' });
  }

  // Forgets everything held locally: the ticket, the credentials, every
  // session and message.
  clearLocal() {
    this.storeTicket(null);
    this.credentials = null;
    this.alias = null;
    this.sessions.clear();
    this.outbox.clear();
    this.pendingEnds.clear();
    this.lastError = null;
  }

  // Reconnects now instead of waiting out the backoff (the browser came
  // back online, the tab became visible, the person pressed "Retry").
  retryNow() {
    if (this.stopped || this.status !== 'offline') return;
    if (this.retryTimer !== null) this.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    this.retryTimer = null;
    this.retryAt = NaN;
    this.welcomed = false;
    const hello = this.helloFrame();
    if (!hello) {
      this.authFailure = 'missing';
      this.stop('auth_failed');
      this.emit({ kind: 'auth_failed', reason: 'missing' });
      return;
    }
    this.status = 'connecting';
    let ws;
    try {
      ws = new this.WebSocket(this.url);
    } catch {
      this.ws = null;
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (ws === this.ws) this.transmit(hello);
    };
    ws.onmessage = (e) => {
      if (ws === this.ws) this.onFrame(e.data);
    };
    ws.onclose = (e) => {
      if (ws === this.ws) this.onClose(e);
    };
    ws.onerror = () => {
      // a close event follows
    };
    this.emit({ kind: 'change' });
  }

  helloFrame() {
    const ticket = this.storedTicket();
    if (ticket) {
      this.usedResume = true;
      return { type: 'hello', role: this.role, resume: ticket };
    }
    this.usedResume = false;
    const c = this.credentials;
    if (!c) return null;
    if (this.role === 'talent') return { type: 'hello', role: 'talent', alias: c.alias, secret: c.secret };
    return { type: 'hello', role: 'client', token: c.token };
  }

  onClose() {
    this.ws = null;
    this.welcomed = false;
    if (this.pendingDelete) {
      // No answer will come on this connection: the person may ask again
      // (a deleted account's resume then fails, and says so).
      this.pendingDelete = false;
      this.emit({ kind: 'delete_failed', code: 'connection_lost', message: '' });
    }
    if (this.stopped) return;
    if (this.retryWithCredentials) {
      this.retryWithCredentials = false;
      this.connect();
      return;
    }
    this.scheduleRetry();
  }

  scheduleRetry() {
    this.status = 'offline';
    const delay = backoffDelay(this.attempt, this.random);
    this.attempt += 1;
    this.retryAt = this.now() + delay;
    this.retryTimer = this.setTimeout(() => this.connect(), delay);
    this.emit({ kind: 'change' });
  }

  transmit(frame) {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  // ---- what the person does ----

  // Queues `text` for `sessionId` under a new id and sends it when online.
  // Returns the id.
  send(sessionId, text) {
    const session = this.session(sessionId);
    const id = this.newId();
    const item = {
      kind: 'msg',
      key: 'm' + id,
      id,
      mine: true,
      from: this.alias,
      text,
      status: 'sending',
      seq: null,
      atMs: this.now(),
      sortSeq: Infinity,
      // where it stays if it is never accepted: after what was there when written
      afterSeq: session.maxSeq,
      order: ++this.order,
    };
    this.insert(session, item);
    const entry = { id, session: sessionId, text, item, retryTimer: null };
    this.outbox.set(id, entry);
    if (this.online) this.transmit({ type: 'send', session: sessionId, id, text });
    this.emit({ kind: 'change' });
    return id;
  }

  end(sessionId) {
    const s = this.sessions.get(sessionId);
    if (s) s.endRequested = true;
    if (!this.online || !this.transmit({ type: 'end', session: sessionId })) this.pendingEnds.add(sessionId);
    this.emit({ kind: 'change' });
  }

  // Rates the client of a closing or closed session (talent). False when
  // offline: the view says so.
  rate(sessionId, score) {
    if (!this.online) return false;
    return this.transmit({ type: 'rate', session: sessionId, score });
  }

  // Acknowledges, per session, every message up to the highest seq received
  // (cumulative). The views call this once they have drawn the messages.
  flushAcks() {
    if (!this.online) return;
    for (const s of this.sessions.values()) {
      if (s.ackWanted > s.ackSent && this.transmit({ type: 'ack', session: s.id, seq: s.ackWanted })) {
        s.ackSent = s.ackWanted;
      }
    }
  }

  // The session the person is looking at (null when the tab is hidden):
  // its messages do not count as unread.
  setFocus(sessionId) {
    this.focused = sessionId;
    if (sessionId) this.markRead(sessionId);
  }

  markRead(sessionId) {
    const s = this.sessions.get(sessionId);
    if (s && s.unread) {
      s.unread = 0;
      this.emit({ kind: 'change' });
    }
  }

  // Removes a closed session from the list.
  dismiss(sessionId) {
    const s = this.sessions.get(sessionId);
    if (s && s.state === 'closed') {
      this.sessions.delete(sessionId);
      this.emit({ kind: 'change' });
    }
  }

  // "Log out": tells the relay, then forgets everything here.
  logout() {
    this.transmit({ type: 'logout' });
    this.clearLocal();
    this.stop('stopped');
  }

  // Asks the relay to delete the talent's account; the answer is
  // account_deleted, or an error (delete_failed event).
  deleteAccount(secret) {
    if (!this.online) return false;
    this.pendingDelete = true;
    return this.transmit({ type: 'delete_account', secret });
  }

  // ---- the model ----

  session(id) {
    let s = this.sessions.get(id);
    if (!s) {
      s = {
        id,
        peer: '',
        package: '',
        channels: [],
        state: 'open',
        expiresAtMs: NaN,
        client: null,
        reason: null,
        graceEndsAtMs: NaN,
        quotaRemaining: null,
        expiringNotice: false,
        rated: null,
        endRequested: false,
        items: [],
        seqs: new Set(),
        maxSeq: 0,
        ackWanted: 0,
        ackSent: 0,
        unread: 0,
      };
      this.sessions.set(id, s);
    }
    return s;
  }

  applySessionView(v) {
    const s = this.session(v.session);
    if (typeof v.peer === 'string') s.peer = v.peer;
    if (typeof v.package === 'string') s.package = v.package;
    if (Array.isArray(v.channels)) s.channels = v.channels.filter((c) => typeof c === 'string');
    if (typeof v.state === 'string') s.state = v.state;
    if (v.expires_at !== undefined) s.expiresAtMs = parseTime(v.expires_at);
    if (v.client && typeof v.client === 'object') s.client = v.client;
    if (typeof v.by_phone === 'boolean') s.byPhone = v.by_phone;
    return s;
  }

  // Keeps the conversation ordered: by seq, then by arrival; messages not
  // accepted yet at the end. Mostly an append, so look from the end.
  insert(session, item) {
    const items = session.items;
    let i = items.length;
    while (i > 0 && byPosition(items[i - 1], item) > 0) i -= 1;
    items.splice(i, 0, item);
  }

  // A notice as a line of the conversation; returns it (its params may be
  // updated later, e.g. a call's time once the relay has counted it).
  addSystem(session, code, params = {}) {
    const item = {
      kind: 'system',
      key: 'n' + (this.order + 1),
      code,
      params,
      atMs: this.now(),
      sortSeq: session.maxSeq,
      order: ++this.order,
    };
    this.insert(session, item);
    return item;
  }

  noteSeq(session, seq) {
    session.seqs.add(seq);
    if (seq > session.maxSeq) session.maxSeq = seq;
  }

  clearEntryTimer(entry) {
    if (entry.retryTimer !== null) this.clearTimeout(entry.retryTimer);
    entry.retryTimer = null;
  }

  failEntry(entry, code, message) {
    this.clearEntryTimer(entry);
    this.outbox.delete(entry.id);
    const s = this.sessions.get(entry.session);
    if (s) {
      const i = s.items.indexOf(entry.item);
      if (i >= 0) s.items.splice(i, 1);
      entry.item.sortSeq = entry.item.afterSeq;
      this.insert(s, entry.item);
    }
    entry.item.status = 'failed';
    entry.item.failCode = code;
    entry.item.failMessage = message || '';
    entry.item.retrying = false;
  }

  resendOutbox() {
    for (const entry of [...this.outbox.values()]) {
      this.clearEntryTimer(entry);
      const s = this.sessions.get(entry.session);
      if (!s || s.state === 'closed') {
        this.failEntry(entry, 'session_closed', '');
        continue;
      }
      entry.item.retrying = false;
      this.transmit({ type: 'send', session: entry.session, id: entry.id, text: entry.text });
    }
  }

  // ---- frames from the relay ----

  onFrame(data) {
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      return;
    }
    if (!m || typeof m !== 'object') return;
    switch (m.type) {
      case 'welcome':
        return this.onWelcome(m);
      case 'session':
        return this.onSession(m);
      case 'message':
        return this.onMessage(m);
      case 'accepted':
        return this.onAccepted(m);
      case 'rated':
        return this.onRated(m);
      case 'call':
        // Calls (calls.js) read their own frames.
        if (typeof m.session === 'string' && typeof m.action === 'string') this.emit({ kind: 'call', frame: m });
        return;
      case 'phone':
        // A talent's SIP account for phone calls (phone.js): held in memory only.
        this.emit({ kind: 'phone', frame: m });
        return;
      case 'error':
        return this.onError(m);
      case 'account_deleted':
        this.pendingDelete = false;
        this.clearLocal();
        this.stop('deleted');
        this.emit({ kind: 'deleted' });
        return;
      default:
        // a frame of a later protocol: ignored
        return;
    }
  }

  onWelcome(m) {
    this.welcomed = true;
    this.everOnline = true;
    this.status = 'online';
    this.attempt = 0;
    this.retryAt = NaN;
    if (typeof m.alias === 'string') this.alias = m.alias;
    this.callsEnabled = m.calls === true; // this relay has a TURN server for calls
    if (typeof m.resume === 'string' && m.resume) {
      // Hellos use the ticket from now on. The secret or token stays in this
      // page's memory only, in case the relay forgets the ticket (a restart).
      this.storeTicket(m.resume);
    } else if (!this.usedResume) {
      this.storeTicket(null);
    }
    const live = new Set();
    for (const v of Array.isArray(m.sessions) ? m.sessions : []) {
      if (!v || typeof v.session !== 'string') continue;
      live.add(v.session);
      this.applySessionView(v);
    }
    // A session we knew that the relay no longer lists closed while we were away.
    const gone = [];
    for (const s of this.sessions.values()) {
      if (!live.has(s.id) && s.state !== 'closed') {
        s.state = 'closed';
        this.addSystem(s, 'closed', { reason: s.reason });
        gone.push(s.id);
      }
      // The relay sends again whatever it has not seen acknowledged.
      s.ackSent = 0;
    }
    this.resendOutbox();
    for (const id of [...this.pendingEnds]) {
      const s = this.sessions.get(id);
      if (s && s.state !== 'closed') this.transmit({ type: 'end', session: id });
    }
    this.pendingEnds.clear();
    for (const id of gone) this.emit({ kind: 'ended', session: id, reason: this.sessions.get(id).reason });
    this.emit({ kind: 'welcome', sessions: [...live] });
    this.emit({ kind: 'change' });
  }

  onSession(m) {
    if (typeof m.session !== 'string') return;
    const known = this.sessions.has(m.session);
    // A booking (or a session's full view) carries the peer and the expiry;
    // anything else is a change to a session we have.
    const isView = m.peer !== undefined || m.expires_at !== undefined;
    if (!known && !isView) return;
    const s = this.session(m.session);
    const before = known ? s.state : null;
    if (isView) this.applySessionView(m);
    else if (typeof m.state === 'string') s.state = m.state;
    if (m.notice === 'expiring') {
      const inS = Number(m.expires_in);
      if (Number.isFinite(inS)) s.expiresAtMs = this.now() + inS * 1000; // the relay's clock, not the phone's
      s.expiringNotice = true;
      this.addSystem(s, 'expiring', { seconds: inS });
    } else if (m.notice === 'quota') {
      s.quotaRemaining = Number(m.remaining);
      this.addSystem(s, 'quota', { remaining: s.quotaRemaining });
    } else if (s.state === 'closing' && before !== 'closing') {
      s.reason = typeof m.reason === 'string' ? m.reason : null;
      s.graceEndsAtMs = graceEndsAt(m.grace_seconds, this.now());
      this.addSystem(s, 'closing', { reason: s.reason });
    } else if (s.state === 'closed' && before !== 'closed') {
      if (typeof m.reason === 'string') s.reason = m.reason;
      this.addSystem(s, 'closed', { reason: s.reason });
    }
    if (!known) this.emit({ kind: 'booked', session: s.id });
    if (s.state === 'closed' && before !== 'closed') {
      this.pendingEnds.delete(s.id);
      for (const entry of [...this.outbox.values()]) {
        if (entry.session === s.id) this.failEntry(entry, 'session_closed', '');
      }
      this.emit({ kind: 'ended', session: s.id, reason: s.reason });
    }
    this.emit({ kind: 'change' });
  }

  onMessage(m) {
    if (typeof m.session !== 'string' || !Number.isInteger(m.seq)) return;
    const s = this.session(m.session);
    if (m.seq > s.ackWanted) s.ackWanted = m.seq;
    if (s.seqs.has(m.seq)) {
      // a replay of what we already have: acknowledge again, show once
      this.emit({ kind: 'change' });
      return;
    }
    this.noteSeq(s, m.seq);
    const sent = parseTime(m.sent_at);
    const item = {
      kind: 'msg',
      key: 's' + m.seq,
      seq: m.seq,
      mine: false,
      from: typeof m.from === 'string' ? m.from : s.peer,
      text: typeof m.text === 'string' ? m.text : '',
      redacted: m.redacted === true,
      status: 'received',
      atMs: Number.isFinite(sent) ? sent : this.now(),
      sortSeq: m.seq,
      order: ++this.order,
    };
    this.insert(s, item);
    if (s.state === 'open') s.state = 'active'; // the first message makes it active
    if (this.focused !== s.id) s.unread += 1;
    this.emit({ kind: 'message', session: s.id, item });
    this.emit({ kind: 'change' });
  }

  onAccepted(m) {
    const entry = this.outbox.get(m.id);
    if (!entry) return; // the answer to a retry we already had
    this.clearEntryTimer(entry);
    this.outbox.delete(m.id);
    const s = this.session(entry.session);
    const item = entry.item;
    const i = s.items.indexOf(item);
    if (i >= 0) s.items.splice(i, 1);
    item.status = 'sent';
    item.retrying = false;
    if (Number.isInteger(m.seq)) {
      item.seq = m.seq;
      item.sortSeq = m.seq;
      this.noteSeq(s, m.seq);
    }
    if (m.redacted === true) item.redacted = true;
    this.insert(s, item);
    if (s.state === 'open') s.state = 'active';
    this.emit({ kind: 'change' });
  }

  onRated(m) {
    const s = this.sessions.get(m.session);
    if (!s) return;
    s.rated = m.score;
    this.addSystem(s, 'rated', { score: m.score });
    this.emit({ kind: 'change' });
  }

  onError(m) {
    const code = typeof m.code === 'string' ? m.code : 'internal';
    const message = typeof m.message === 'string' ? m.message : '';
    if (code === 'auth_failed' && !this.welcomed) return this.onAuthFailed();
    if (typeof m.id === 'string' && m.id.startsWith('call-')) {
      // A call that could not start (calls.js shows why).
      this.emit({ kind: 'call_error', id: m.id, code, message });
      this.emit({ kind: 'change' });
      return;
    }
    const entry = m.id !== undefined && m.id !== null ? this.outbox.get(String(m.id)) : undefined;
    if (entry) {
      if (code === 'rate_limited') {
        // Not refused, only too soon: send it again later, same id.
        this.clearEntryTimer(entry);
        entry.item.retrying = true;
        const delay = RATE_LIMIT_RETRY_MS + Math.floor(this.random() * 2000);
        entry.retryTimer = this.setTimeout(() => {
          entry.retryTimer = null;
          if (!this.outbox.has(entry.id)) return;
          entry.item.retrying = false;
          if (this.online) this.transmit({ type: 'send', session: entry.session, id: entry.id, text: entry.text });
          this.emit({ kind: 'change' });
        }, delay);
      } else {
        this.failEntry(entry, code, message);
      }
      this.emit({ kind: 'change' });
      return;
    }
    if (this.pendingDelete) {
      this.pendingDelete = false;
      this.emit({ kind: 'delete_failed', code, message });
      this.emit({ kind: 'change' });
      return;
    }
    this.lastError = { code, message, atMs: this.now() };
    this.emit({ kind: 'error', code, message });
    this.emit({ kind: 'change' });
  }

  onAuthFailed() {
    if (this.usedResume) {
      // The ticket is no good (expired, or the relay restarted): drop it.
      this.storeTicket(null);
      if (this.credentials) {
        this.retryWithCredentials = true; // once the relay closes this one
        return;
      }
      this.authFailure = 'resume';
    } else {
      // Refused from the start: the alias, secret or token is wrong. Refused
      // after having been in: the account or session went meanwhile.
      this.authFailure = this.everOnline ? 'resume' : 'credentials';
      this.credentials = null;
    }
    this.stop('auth_failed');
    this.emit({ kind: 'auth_failed', reason: this.authFailure });
  }
}
