// Voice calls over a RelaySocket (design §11): the signalling, one
// RTCPeerConnection per call that uses only the TURN server the relay gave
// (iceTransportPolicy "relay"), the microphone, mute, and what the views
// draw. No DOM here: getUserMedia, RTCPeerConnection and the clock are passed
// in, so node tests can drive a call with fakes.
//
// One call at a time per page. A second call ringing while one is up is
// declined; the relay allows one per session anyway.
//
// A talent's console also has a phone line (phone.js, when `opts.sip` is
// given): a client's call into the proxy number rings here as a call of
// kind 'phone', answered, declined, muted and hung up with the same
// controls; its signalling is SIP through the relay's Kamailio, its media
// goes to rtpengine through the same TURN server.

import { PhoneLine, isRelayCandidate, phoneEndReason } from './phone.js';

let nextRequest = 0;

// Why the microphone could not be had, for the views: 'mic_denied' (the
// person or the browser said no), 'mic_missing' (no device), 'mic_failed'.
export function micProblem(error) {
  const name = error && error.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') return 'mic_denied';
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return 'mic_missing';
  return 'mic_failed';
}

export class Calls {
  // opts: getUserMedia(constraints) → Promise<MediaStream>, RTCPeerConnection
  // (a constructor), and optionally now and loadSip (() → Promise of
  // {UA, WebSocketInterface}: the phone line's SIP stack).
  constructor(relay, opts) {
    this.relay = relay;
    this.getUserMedia = opts.getUserMedia;
    this.RTCPeerConnection = opts.RTCPeerConnection;
    this.now = opts.now || (() => Date.now());
    // The call the page is in, or null. phase: 'starting' (asked the relay),
    // 'calling' (the other side rings), 'ringing' (we are called),
    // 'connecting' (answered, media being set up), 'active', 'ended'.
    this.call = null;
    this.problem = null; // {kind: 'mic_denied'|'mic_missing'|'mic_failed'|'refused', code?, session} for the views
    this.remoteStream = null; // what the <audio> element plays
    this.pc = null;
    this.local = null; // our microphone's stream
    this.pendingCandidates = []; // received before the remote description
    this.listeners = new Set();
    this.phone = null;
    if (opts.loadSip) {
      this.phone = new PhoneLine(opts.loadSip);
      this.phone.onChange = () => this.emit({ kind: 'change' });
      this.phone.onIncoming = (sip, request) => this.onPhoneRinging(sip, request);
    }
    this.unsubscribe = relay.subscribe((e) => this.onRelay(e));
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(event) {
    for (const fn of [...this.listeners]) fn(event);
  }

  // ---- what the person does ----

  // Calls the other side of `sessionId`. The microphone is asked for first,
  // so that a refusal is explained before anyone's phone rings.
  async start(sessionId) {
    if (this.call && this.call.phase !== 'ended') return;
    this.problem = null;
    const requestId = `call-${++nextRequest}-${Math.floor(Math.random() * 1e9)}`;
    this.call = { id: null, session: sessionId, role: 'caller', phase: 'starting', requestId, muted: false };
    this.emit({ kind: 'change' });
    const call = this.call;
    if (!(await this.takeMicrophone())) {
      if (this.call === call) this.call = null;
      return this.emit({ kind: 'change' });
    }
    if (this.call !== call) return this.releaseMicrophone();
    if (!this.relay.transmit({ type: 'call', action: 'start', session: sessionId, id: requestId })) {
      this.problem = { kind: 'refused', code: 'connection_lost', session: sessionId };
      this.finish(null, 0);
    }
  }

  // Calls the client of `sessionId` on the phone, from the proxy number.
  async startPhone(sessionId) {
    if ((this.call && this.call.phase !== 'ended') || !this.phone || this.phone.state !== 'ready') return;
    this.problem = null;
    const call = { id: null, kind: 'phone', session: sessionId, role: 'caller', phase: 'starting', muted: false };
    this.call = call;
    this.emit({ kind: 'change' });
    if (!(await this.takeMicrophone())) {
      if (this.call === call) this.call = null;
      return this.emit({ kind: 'change' });
    }
    if (this.call !== call || call.phase === 'ended') return this.releaseMicrophone();
    try {
      call.sip = this.phone.call(sessionId, {
        mediaStream: this.local,
        pcConfig: this.phone.pcConfig(),
        eventHandlers: this.phoneHandlers(call),
      });
    } catch {
      this.problem = { kind: 'refused', code: 'phone_unavailable', session: sessionId };
      this.finish(null, 0);
    }
  }

  async answer() {
    const call = this.call;
    if (!call || call.phase !== 'ringing') return;
    call.phase = 'connecting';
    this.emit({ kind: 'change' });
    if (!(await this.takeMicrophone())) {
      if (call.kind === 'phone') this.endPhone(call, 480);
      else this.send(call, { action: 'decline' });
      return this.finish('mic', 0);
    }
    if (this.call !== call) return this.releaseMicrophone();
    if (call.kind === 'phone') {
      try {
        call.sip.answer({ mediaStream: this.local, pcConfig: this.phone.pcConfig() });
      } catch {
        this.hangup('failed');
      }
      return;
    }
    this.openConnection(call);
    this.send(call, { action: 'accept' });
    // the caller's offer comes next
  }

  decline() {
    const call = this.call;
    if (!call || call.phase !== 'ringing') return;
    if (call.kind === 'phone') this.endPhone(call, 603);
    else this.send(call, { action: 'decline' });
    this.finish('declined', 0);
  }

  hangup(reason) {
    const call = this.call;
    if (!call || call.phase === 'ended') return;
    if (call.kind === 'phone') this.endPhone(call);
    else if (call.id) this.send(call, reason === 'failed' ? { action: 'hangup', reason: 'failed' } : { action: 'hangup' });
    else call.cancelled = true; // not started yet: hang up once the relay names it
    this.finish(reason === 'failed' ? 'failed' : 'hangup', this.talkedSeconds());
  }

  setMuted(muted) {
    if (!this.call) return;
    this.call.muted = muted;
    if (this.local) for (const track of this.local.getAudioTracks()) track.enabled = !muted;
    this.emit({ kind: 'change' });
  }

  // The page has seen the end: the view goes back to idle.
  dismiss() {
    if (this.call && this.call.phase === 'ended') {
      this.call = null;
      this.emit({ kind: 'change' });
    }
  }

  talkedSeconds() {
    const c = this.call;
    return c && c.connectedAtMs ? Math.floor((this.now() - c.connectedAtMs) / 1000) : 0;
  }

  // ---- the relay's frames ----

  onRelay(e) {
    if (e.kind === 'call') return this.onFrame(e.frame);
    if (e.kind === 'call_error') return this.onStartRefused(e);
    if (e.kind === 'phone') return this.phone && this.phone.configure(e.frame);
    // The connection to the relay is gone: the relay ends the call
    // (peer_gone) and cancels its media; nothing of it survives here either.
    // A phone call is Kamailio's: it goes on (the relay still ends it with its session).
    const call = this.call;
    // The relay hangs a phone call up through Kamailio when its session
    // ends; the console does too, so that it never outlives its session
    // even when Kamailio did not hear.
    if (e.kind === 'change' && call && call.kind === 'phone' && call.phase !== 'ended') {
      const s = this.relay.sessions.get(call.session);
      if (s && s.state !== 'open' && s.state !== 'active') {
        this.endPhone(call, call.phase === 'ringing' ? 480 : 0);
        return this.finish('session_closed', this.talkedSeconds());
      }
    }
    const browserCall = call && call.kind !== 'phone';
    if (e.kind === 'change' && browserCall && call.phase !== 'ended' && !this.relay.online) {
      this.finish('connection_lost', this.talkedSeconds());
    }
  }

  onStartRefused(e) {
    const call = this.call;
    if (!call || call.requestId !== e.id) return;
    this.problem = { kind: 'refused', code: e.code, session: call.session };
    this.finish(null, 0);
  }

  onFrame(m) {
    const call = this.call;
    switch (m.action) {
      case 'started':
        if (!call || call.requestId !== m.id || call.id) return;
        call.id = m.call;
        call.ice = m.ice;
        if (call.cancelled) {
          this.send(call, { action: 'hangup' });
          return;
        }
        call.phase = 'calling';
        return this.emit({ kind: 'change' });
      case 'ringing':
        if (call && call.phase !== 'ended') {
          // Busy here: the page is in another call (or this one rings again after a reconnect).
          if (call.id !== m.call) this.relay.transmit({ type: 'call', action: 'decline', session: m.session, call: m.call });
          return;
        }
        this.problem = null;
        this.call = { id: m.call, session: m.session, role: 'callee', phase: 'ringing', from: m.from, ice: m.ice, muted: false };
        this.emit({ kind: 'ringing', session: m.session });
        return this.emit({ kind: 'change' });
      case 'accepted':
        if (!call || call.id !== m.call || call.role !== 'caller' || call.phase !== 'calling') return;
        call.phase = 'connecting';
        this.emit({ kind: 'change' });
        return this.offer(call);
      case 'sdp':
        if (!call || call.id !== m.call || !this.pc || !m.sdp) return;
        return this.onDescription(call, m.sdp);
      case 'candidate':
        if (!call || call.id !== m.call || !this.pc || !m.candidate) return;
        if (!m.candidate.candidate) return; // end of candidates: nothing to add
        if (!this.pc.remoteDescription) this.pendingCandidates.push(m.candidate);
        else this.pc.addIceCandidate(m.candidate).catch(() => {});
        return;
      case 'expiring':
        if (!call || call.id !== m.call) return;
        call.secondsLeft = Number(m.seconds);
        call.limitAtMs = this.now() + call.secondsLeft * 1000;
        return this.emit({ kind: 'change' });
      case 'ended':
        if (!call || call.id !== m.call) return;
        if (call.phase === 'ended') {
          // We hung up first: the relay's count of the time is the true one.
          call.seconds = Number(m.seconds) || 0;
          if (call.note) call.note.params.seconds = call.seconds;
          return this.emit({ kind: 'change' });
        }
        return this.finish(m.reason, Number(m.seconds) || 0);
      default:
    }
  }

  // ---- media ----

  async takeMicrophone() {
    try {
      this.local = await this.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true }, video: false });
      return true;
    } catch (error) {
      this.problem = { kind: micProblem(error), session: this.call ? this.call.session : null };
      this.emit({ kind: 'change' });
      return false;
    }
  }

  releaseMicrophone() {
    if (this.local) for (const track of this.local.getTracks()) track.stop();
    this.local = null;
  }

  openConnection(call) {
    const ice = call.ice || {};
    // Only the servers the relay gave, and relay candidates only: the relay
    // drops any other candidate anyway.
    const pc = new this.RTCPeerConnection({
      iceServers: Array.isArray(ice.servers) ? ice.servers : [],
      iceTransportPolicy: 'relay',
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
    });
    this.pc = pc;
    this.pendingCandidates = [];
    for (const track of this.local.getAudioTracks()) pc.addTrack(track, this.local);
    pc.onicecandidate = (e) => {
      if (this.pc !== pc || !e.candidate) return;
      const c = typeof e.candidate.toJSON === 'function' ? e.candidate.toJSON() : e.candidate;
      this.send(call, { action: 'candidate', candidate: c });
    };
    this.watchMedia(pc, call);
    return pc;
  }

  // The other side's audio, and the call counted as talking once media flows.
  watchMedia(pc, call) {
    pc.ontrack = (e) => {
      if (this.pc !== pc) return;
      this.remoteStream = e.streams && e.streams[0] ? e.streams[0] : null;
      this.emit({ kind: 'change' });
    };
    pc.onconnectionstatechange = () => {
      if (this.pc !== pc) return;
      if (pc.connectionState === 'connected' && call.phase === 'connecting') {
        call.phase = 'active';
        call.connectedAtMs = this.now();
        this.emit({ kind: 'connected' });
        this.emit({ kind: 'change' });
      } else if (pc.connectionState === 'failed') {
        this.hangup('failed');
      }
    };
  }

  // ---- phone calls (SIP, phone.js) ----

  // A client's call into the proxy number: X-Tirai-Session names the
  // session (Kamailio puts it in from the relay's answer).
  onPhoneRinging(sip, request) {
    const session = request && typeof request.getHeader === 'function' ? request.getHeader('X-Tirai-Session') : null;
    const s = session ? this.relay.sessions.get(session) : null;
    const busy = this.call && this.call.phase !== 'ended';
    if (!s || busy) {
      try {
        sip.terminate({ status_code: busy ? 486 : 480 });
      } catch {
        // already over
      }
      return;
    }
    this.problem = null;
    const call = { id: null, kind: 'phone', sip, session, role: 'callee', phase: 'ringing', from: s.peer, muted: false };
    this.call = call;
    for (const [name, fn] of Object.entries(this.phoneHandlers(call))) sip.on(name, fn);
    this.emit({ kind: 'ringing', session });
    this.emit({ kind: 'change' });
  }

  // JsSIP's events of a phone call, as this page's phases.
  phoneHandlers(call) {
    const current = () => this.call === call && call.phase !== 'ended' && !call.closing;
    const end = (e) => {
      if (!current()) return;
      let reason = phoneEndReason(call.phase, e);
      // The relay hangs a phone call up when its session ends: say so, as for browser calls.
      const s = this.relay.sessions.get(call.session);
      if (reason !== 'declined' && s && s.state !== 'open' && s.state !== 'active') reason = 'session_closed';
      if (call.role === 'caller' && call.phase !== 'active' && call.phase !== 'connecting') {
        this.problem = { kind: 'refused', code: reason === 'busy' ? 'busy' : 'phone_unavailable', session: call.session };
        return this.finish(null, 0);
      }
      this.finish(reason, this.talkedSeconds());
    };
    return {
      peerconnection: (e) => {
        if (!current()) return;
        this.pc = e.peerconnection;
        this.watchMedia(this.pc, call);
      },
      // JsSIP sends its SDP once ICE gathering is over; with the relay's TURN
      // server the first relay candidate is all that is needed.
      icecandidate: (e) => {
        if (this.phone && this.phone.relayOnly() && isRelayCandidate(e.candidate)) e.ready();
      },
      progress: () => {
        if (current() && call.role === 'caller' && call.phase === 'starting') {
          call.phase = 'calling';
          this.emit({ kind: 'change' });
        }
      },
      accepted: () => {
        if (current() && call.phase !== 'active') {
          call.phase = 'connecting';
          this.emit({ kind: 'change' });
        }
      },
      ended: end,
      failed: end,
    };
  }

  // Ends the SIP side of a phone call (a status for one not answered yet).
  endPhone(call, status) {
    call.closing = true;
    if (!call.sip) return;
    try {
      call.sip.terminate(status ? { status_code: status } : {});
    } catch {
      // already over
    }
  }

  async offer(call) {
    try {
      const pc = this.openConnection(call);
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      if (this.pc === pc) this.send(call, { action: 'sdp', sdp: { type: 'offer', sdp: pc.localDescription.sdp } });
    } catch {
      this.hangup('failed');
    }
  }

  async onDescription(call, desc) {
    const pc = this.pc;
    try {
      await pc.setRemoteDescription(desc);
      for (const c of this.pendingCandidates.splice(0)) await pc.addIceCandidate(c).catch(() => {});
      if (desc.type === 'offer') {
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        if (this.pc === pc) this.send(call, { action: 'sdp', sdp: { type: 'answer', sdp: pc.localDescription.sdp } });
      }
    } catch {
      if (this.pc === pc) this.hangup('failed');
    }
  }

  send(call, fields) {
    return this.relay.transmit({ type: 'call', session: call.session, call: call.id, ...fields });
  }

  // The call is over here: media closed, the microphone released, the end
  // noted in the conversation. `reason` null: it never began (refused).
  finish(reason, seconds) {
    const call = this.call;
    if (this.pc) {
      this.pc.onicecandidate = this.pc.ontrack = this.pc.onconnectionstatechange = null;
      try {
        this.pc.close();
      } catch {
        // already closed
      }
    }
    this.pc = null;
    this.remoteStream = null;
    this.pendingCandidates = [];
    this.releaseMicrophone();
    if (!call) return this.emit({ kind: 'change' });
    if (reason === null) {
      this.call = null;
    } else {
      call.phase = 'ended';
      call.reason = reason;
      call.seconds = seconds;
      if (reason !== 'mic') {
        const s = this.relay.sessions.get(call.session);
        if (s) call.note = this.relay.addSystem(s, 'call_ended', { reason, seconds });
      }
    }
    this.emit({ kind: 'ended' });
    this.emit({ kind: 'change' });
  }

  stop() {
    if (this.call && this.call.phase !== 'ended') this.hangup();
    if (this.phone) this.phone.stop();
    this.unsubscribe();
  }
}
