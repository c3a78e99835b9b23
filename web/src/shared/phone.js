// The talent console's phone line (design §13): a SIP user agent (JsSIP in
// the browser) registered with the relay's Kamailio under the short-lived
// account the relay sends in its "phone" frame after the welcome. A client's
// call into the session's proxy number rings here; the talent's call back
// goes out as sip:<session id>@<domain>, and the relay decides both. The
// account lives in memory only. No DOM here: the SIP stack is passed in, so
// node tests drive the line with fakes (calls.js puts its calls on screen).

// What the line is doing, for the views: 'off' (no account), 'connecting',
// 'ready' (registered: calls can ring), 'failed' (the relay's SIP server
// refused or cannot be reached; it keeps trying).
export class PhoneLine {
  // loadSip() → Promise<{ UA, WebSocketInterface }> (JsSIP's, or fakes):
  // called once, when the first account comes.
  constructor(loadSip) {
    this.loadSip = loadSip;
    this.sip = null;
    this.generation = 0; // a newer configure() or stop() wins over one still loading
    this.ua = null;
    this.account = null; // { username, domain, alias, ice }
    this.state = 'off';
    this.onChange = () => {};
    // (session, request): a call from outside rings; session is JsSIP's RTCSession.
    this.onIncoming = () => {};
  }

  // The relay's {"type":"phone",...} frame: registers with it, or keeps the
  // registration when the account is the one in use.
  async configure(frame) {
    const ws = Array.isArray(frame.ws) ? frame.ws.filter((u) => typeof u === 'string' && /^wss?:\/\//.test(u)) : [];
    const { domain, username, password } = frame;
    if (!ws.length || typeof domain !== 'string' || typeof username !== 'string' || typeof password !== 'string') return;
    const alias = username.slice(username.indexOf(':') + 1);
    if (!alias) return;
    if (this.ua && this.account && this.account.username === username) return;
    this.stop();
    const generation = ++this.generation;
    this.set('connecting');
    if (!this.sip) {
      try {
        this.sip = await this.loadSip();
      } catch {
        if (generation === this.generation) this.set('failed');
        return;
      }
      if (generation !== this.generation) return;
    }
    this.account = { username, domain, alias, ice: frame.ice && typeof frame.ice === 'object' ? frame.ice : null };
    const ua = new this.sip.UA({
      sockets: ws.map((url) => new this.sip.WebSocketInterface(url)),
      uri: `sip:${alias}@${domain}`,
      authorization_user: username,
      password,
      register: true,
      register_expires: 300,
      session_timers: false,
      user_agent: 'tirai',
      // The relay's ring timeout decides; this is only a backstop.
      no_answer_timeout: 300,
      connection_recovery_min_interval: 2,
      connection_recovery_max_interval: 30,
    });
    this.ua = ua;
    ua.on('registered', () => this.ua === ua && this.set('ready'));
    ua.on('unregistered', () => this.ua === ua && this.set('connecting'));
    ua.on('registrationFailed', () => this.ua === ua && this.set('failed'));
    ua.on('disconnected', () => this.ua === ua && this.state === 'ready' && this.set('connecting'));
    ua.on('newRTCSession', (e) => {
      if (this.ua !== ua || e.originator !== 'remote') return;
      this.onIncoming(e.session, e.request);
    });
    ua.start();
  }

  set(state) {
    if (this.state === state) return;
    this.state = state;
    this.onChange();
  }

  // Whether media must go through the relay's TURN server (relay candidates only).
  relayOnly() {
    const servers = this.account && this.account.ice && this.account.ice.servers;
    return Array.isArray(servers) && servers.length > 0;
  }

  // The RTCPeerConnection's configuration for a phone call: with the relay's
  // TURN server, relay candidates only, so that rtpengine never learns the
  // talent's address.
  pcConfig() {
    // rtpengine's offer is one audio stream with rtcp-mux, and no BUNDLE group.
    const base = { rtcpMuxPolicy: 'require' };
    if (!this.relayOnly()) return { ...base, iceServers: [] };
    return { ...base, iceServers: this.account.ice.servers, iceTransportPolicy: 'relay' };
  }

  // Calls the client of `session` on the phone (the relay's SIP server
  // checks that the session is hers and live). Returns JsSIP's session.
  call(session, options) {
    if (!this.ua || this.state !== 'ready') throw new Error('the phone line is not ready');
    return this.ua.call(`sip:${session}@${this.account.domain}`, options);
  }

  stop() {
    this.generation += 1;
    const ua = this.ua;
    this.ua = null;
    this.account = null;
    if (ua) {
      try {
        ua.stop();
      } catch {
        // already stopped
      }
    }
    this.set('off');
  }
}

// Whether an ICE candidate (RTCIceCandidate or its JSON) is a relay one.
export function isRelayCandidate(c) {
  if (!c) return false;
  if (c.type) return c.type === 'relay';
  return / typ relay( |$)/.test(c.candidate || '');
}

// What a phone call's end means to the views. JsSIP's causes, in its words.
export function phoneEndReason(phase, e) {
  const cause = e && e.cause;
  if (cause === 'Busy') return 'busy';
  if (cause === 'Canceled' || cause === 'No Answer' || cause === 'Request Timeout') return 'no_answer';
  if (cause === 'Rejected') return 'declined';
  if (phase === 'active' || phase === 'connecting') return cause === 'Terminated' ? 'hangup' : 'failed';
  return 'unavailable';
}
