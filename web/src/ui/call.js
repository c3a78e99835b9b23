// The call controls the talent console and the client page share: Call,
// Answer, Decline, Hang up, Mute, the ringing, the call's running time and
// the session's time left, and the <audio> element the other side is heard
// through. The signalling and media are in shared/calls.js.
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorReason } from '../shared/i18n.js';
import { Calls } from '../shared/calls.js';
import { formatDuration, sessionCountdown } from '../shared/countdown.js';
import { Alert, useTick } from './common.js';

// The page's calls over `relay`, with this browser's microphone and WebRTC;
// `loadSip` (the talent console's: it loads JsSIP) adds the phone line.
export function newCalls(relay, loadSip = null) {
  const media = navigator.mediaDevices;
  const noDevice = () => Promise.reject(Object.assign(new Error('no media devices'), { name: 'NotFoundError' }));
  return new Calls(relay, {
    getUserMedia: (c) => (media && media.getUserMedia ? media.getUserMedia(c) : noDevice()),
    RTCPeerConnection: window.RTCPeerConnection,
    loadSip,
  });
}

export function useCalls(calls) {
  const [, setN] = useState(0);
  useEffect(() => (calls ? calls.subscribe(() => setN((n) => n + 1)) : undefined), [calls]);
}

// A phone's ring, made with WebAudio (no audio file to fetch): two short
// tones every three seconds while `on`.
function useRinging(on) {
  useEffect(() => {
    if (!on) return undefined;
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return undefined;
    let audio;
    try {
      audio = new Ctx();
    } catch {
      return undefined;
    }
    const ring = () => {
      try {
        if (audio.state === 'suspended') audio.resume();
        const t0 = audio.currentTime + 0.02;
        for (const at of [0, 0.45]) {
          const osc = audio.createOscillator();
          const gain = audio.createGain();
          osc.frequency.setValueAtTime(440, t0 + at);
          osc.frequency.setValueAtTime(480, t0 + at + 0.2);
          gain.gain.setValueAtTime(0.0001, t0 + at);
          gain.gain.exponentialRampToValueAtTime(0.2, t0 + at + 0.03);
          gain.gain.exponentialRampToValueAtTime(0.0001, t0 + at + 0.4);
          osc.connect(gain);
          gain.connect(audio.destination);
          osc.start(t0 + at);
          osc.stop(t0 + at + 0.42);
        }
      } catch {
        // no sound is better than a broken page
      }
    };
    ring();
    const timer = setInterval(ring, 3000);
    return () => {
      clearInterval(timer);
      audio.close().catch(() => {});
    };
  }, [on]);
}

// Plays the other side. autoplay: the page was tapped (Call or Answer) just before.
function RemoteAudio({ stream }) {
  const ref = useRef(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    if (el.srcObject !== stream) el.srcObject = stream;
    if (stream) el.play().catch(() => {});
  }, [stream]);
  return html`<audio ref=${ref} autoplay class="remote-audio" data-testid="remote-audio"></audio>`;
}

function CallClock({ t, calls, session }) {
  const now = useTick();
  const c = calls.call;
  const talked = c.connectedAtMs ? formatDuration(now - c.connectedAtMs) : '0:00';
  const left = sessionCountdown(session, now);
  return html`<p class="sub call-clock">
    <span role="timer" aria-label=${t('call_time', { time: talked })}>${t('call_time', { time: talked })}</span>
    ${left.kind === 'left' ? html` · <span>${t('call_session_left', { time: left.text })}</span>` : null}
  </p>`;
}

function problemText(t, p) {
  if (!p) return '';
  if (p.kind === 'refused') return t('call_refused', { reason: errorReason(t, p.code) });
  return t(p.kind);
}

// The call of `session` (a session whose package has voice): what it is
// doing now and what can be done about it.
export function CallBar({ t, calls, relay, session, showPeer = false }) {
  const c = calls.call && calls.call.session === session.id && calls.call.phase !== 'ended' ? calls.call : null;
  const elsewhere = calls.call && calls.call.phase !== 'ended' && !c;
  useRinging(!!c && c.phase === 'ringing');
  const alias = session.peer;
  const problem = calls.problem && (!calls.problem.session || calls.problem.session === session.id) ? calls.problem : null;
  const alert = html`<${Alert}
    t=${t}
    text=${problemText(t, problem)}
    onDismiss=${() => {
      calls.problem = null;
      calls.emit({ kind: 'change' });
    }}
  />`;
  if (!c) {
    const open = session.state === 'open' || session.state === 'active';
    if (!open) return null;
    // A client who booked with a phone number can be called on it, from the proxy number.
    const byPhone = session.byPhone && calls.phone && calls.phone.state !== 'off';
    if (!relay.callsEnabled && !byPhone) return html`<p class="sub">${t('calls_off')}</p>`;
    return html`<div class="callbar idle">
      ${alert}
      ${relay.callsEnabled
        ? html`<button
            type="button"
            class="primary"
            disabled=${elsewhere || !relay.online}
            onClick=${() => {
              calls.dismiss();
              calls.start(session.id);
            }}
          >
            ${showPeer ? `${t('call')} ${alias}` : t('call')}
          </button>`
        : null}
      ${byPhone
        ? html`<button
            type="button"
            class=${relay.callsEnabled ? '' : 'primary'}
            disabled=${elsewhere || calls.phone.state !== 'ready'}
            onClick=${() => {
              calls.dismiss();
              calls.startPhone(session.id);
            }}
          >
            ${t('call_by_phone')}
          </button>`
        : null}
      ${byPhone && calls.phone.state !== 'ready'
        ? html`<p class="sub">${t(calls.phone.state === 'failed' ? 'phone_line_failed' : 'phone_line_connecting')}</p>`
        : null}
    </div>`;
  }
  let status;
  if (c.phase === 'ringing') status = t('call_incoming', { alias: c.from || alias });
  else if (c.phase === 'starting' || c.phase === 'calling') status = t('call_calling', { alias });
  else if (c.phase === 'connecting') status = t('call_connecting');
  else status = t('call_active', { alias });
  const inCall = c.phase === 'connecting' || c.phase === 'active';
  return html`<section class=${`callbar ${c.phase}`} aria-label=${t('call')}>
    ${alert}
    <p class="call-status" role="status" aria-live="polite">
      ${status}${c.kind === 'phone' ? html` <span class="badge">${t('call_phone')}</span>` : null}
    </p>
    ${c.phase === 'active' ? html`<${CallClock} t=${t} calls=${calls} session=${session} />` : null}
    ${c.secondsLeft !== undefined ? html`<p class="notice-line" role="alert">${t('call_minute_left')}</p>` : null}
    <div class="row">
      ${c.phase === 'ringing'
        ? html`<button type="button" class="primary" onClick=${() => calls.answer()}>${t('answer')}</button>
            <button type="button" class="danger-outline" onClick=${() => calls.decline()}>${t('decline')}</button>`
        : null}
      ${inCall
        ? html`<button type="button" aria-pressed=${c.muted ? 'true' : 'false'} onClick=${() => calls.setMuted(!c.muted)}>
            ${t('mute')}
          </button>`
        : null}
      ${c.phase !== 'ringing'
        ? html`<button type="button" class="danger" onClick=${() => calls.hangup()}>${t('hang_up')}</button>`
        : null}
    </div>
    ${inCall ? html`<${RemoteAudio} stream=${calls.remoteStream} />` : null}
  </section>`;
}
