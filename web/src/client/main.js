// The client's page (/s/ on the relay port), opened from the session link
// <origin>/s/#<client token>. The token is taken from the fragment and
// removed from the address bar at once; it stays in memory only.
import { render } from 'preact';
import { html } from 'htm/preact';
import * as STRINGS from '../shared/strings_client.js';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { RelaySocket, wsUrlFor } from '../shared/relay_socket.js';
import { errorReason } from '../shared/i18n.js';
import { sessionCountdown } from '../shared/countdown.js';
import { Alert, ConnectionStatus, Header, mount, useLanguage, useNudge, useRelay, useTick } from '../ui/common.js';
import { Composer, Conversation, SessionNotice } from '../ui/chat.js';
import { createAttention } from '../ui/attention.js';
import { CallBar, newCalls, useCalls } from '../ui/call.js';

function storage() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

function clearStorage() {
  try {
    storage().clear();
  } catch {
    // nothing stored
  }
}

// Before anything else: take the token out of the address bar.
function takeToken() {
  const raw = location.hash ? location.hash.slice(1) : '';
  if (raw) history.replaceState(null, '', location.pathname + location.search);
  let token = raw;
  try {
    token = decodeURIComponent(raw);
  } catch {
    // not percent-encoded
  }
  return token.trim();
}

const token = takeToken();

// A new link opened in this same tab changes only the fragment, which does
// not reload the page: start again from it.
window.addEventListener('hashchange', () => {
  if (location.hash.length > 1) location.reload();
});

// What the page starts with: the token, or the resume ticket a reload left
// in sessionStorage, or nothing to connect with (null).
function newRelay() {
  const relay = new RelaySocket({ role: 'client', url: wsUrlFor(location), WebSocket: window.WebSocket, storage: storage() });
  return token || relay.storedTicket() ? relay : null;
}

function TimeLeft({ t, s }) {
  const now = useTick();
  const c = sessionCountdown(s, now);
  if (c.kind === 'grace') return t('closing_in', { time: c.text });
  if (c.kind === 'left') return t('time_left', { time: c.text });
  if (c.kind === 'expired') return t('time_up');
  return '';
}

function EndControl({ t, relay, s }) {
  const [asking, setAsking] = useState(false);
  if (s.state === 'closing' || s.state === 'closed') return null;
  if (!asking) {
    return html`<div class="actions">
      <button type="button" class="danger-outline" onClick=${() => setAsking(true)}>${t('end_session')}</button>
    </div>`;
  }
  return html`<div class="panel" role="group" aria-labelledby="end-q">
    <p id="end-q">${t('end_confirm_question')}</p>
    <div class="row">
      <button
        type="button"
        class="danger"
        onClick=${() => {
          relay.end(s.id);
          setAsking(false);
        }}
      >
        ${t('end_confirm')}
      </button>
      <button type="button" class="link" onClick=${() => setAsking(false)}>${t('cancel')}</button>
    </div>
  </div>`;
}

function Chat({ t, lang, relay }) {
  const s = relay.sessions.size ? relay.sessions.values().next().value : null;
  const calls = useMemo(() => newCalls(relay), [relay]);
  useEffect(() => () => calls.stop(), [calls]);
  useCalls(calls);
  useEffect(() => {
    const focus = () => relay.setFocus(document.hidden || !s ? null : s.id);
    focus();
    document.addEventListener('visibilitychange', focus);
    return () => document.removeEventListener('visibilitychange', focus);
  }, [relay, s && s.id]);
  useEffect(() => relay.flushAcks());
  return html`<main class="client">
    <${ConnectionStatus} t=${t} relay=${relay} />
    <${Alert}
      t=${t}
      text=${relay.lastError ? t('error_notice', { reason: errorReason(t, relay.lastError.code) }) : ''}
      onDismiss=${() => {
        relay.lastError = null;
        relay.emit({ kind: 'change' });
      }}
    />
    ${s
      ? html`<section class="chat" aria-labelledby="chat-h">
          <div class="chat-head">
            <h1 id="chat-h">${t('chatting_with', { alias: s.peer })}</h1>
            <p class="sub">${s.package} · <${TimeLeft} t=${t} s=${s} /></p>
          </div>
          <${SessionNotice} t=${t} session=${s} />
          ${s.channels.includes('voice') ? html`<${CallBar} t=${t} calls=${calls} relay=${relay} session=${s} />` : null}
          <${Conversation} t=${t} lang=${lang} session=${s} />
          ${s.channels.includes('chat')
            ? html`<${Composer} t=${t} idPrefix="client" onSend=${(text) => relay.send(s.id, text)} />`
            : null}
          <${EndControl} t=${t} relay=${relay} s=${s} />
        </section>`
      : html`<p class="empty-note">${t('status_connecting')}</p>`}
  </main>`;
}

const attention = createAttention();

function App() {
  const { lang, setLang, t } = useLanguage(STRINGS);
  const [relay] = useState(newRelay);
  // null while the session lives; else why there is nothing to show
  const [over, setOver] = useState(relay ? null : 'link_missing');
  useRelay(relay);
  useNudge(relay);

  useEffect(() => {
    attention.setBase(`${t('client_title')} · tirai`);
  }, [t]);

  useEffect(() => {
    if (!relay) return undefined;
    const finish = (why) => {
      // Nothing of the session is kept: not the messages, not the ticket.
      relay.clearLocal();
      relay.stop();
      clearStorage();
      setOver(why);
    };
    return relay.subscribe((e) => {
      if (e.kind === 'message') attention.bump();
      else if (e.kind === 'auth_failed') finish(e.reason === 'missing' ? 'link_missing' : 'ended_or_invalid');
      else if (e.kind === 'ended') finish('ended');
      else if (e.kind === 'welcome' && e.sessions.length === 0) finish('ended');
    });
  }, [relay]);

  // Started once the listeners above are in place, so that no early answer
  // (a resume is welcomed within milliseconds) goes unheard.
  useEffect(() => {
    if (relay && !relay.started) relay.start(token ? { token } : undefined);
  }, [relay]);

  return html`
    <${Header} t=${t} lang=${lang} setLang=${setLang} title=${t('client_title')} status=${over ? null : relay.status} />
    ${over
      ? html`<main class="page narrow"><p class="big" role="status">${t(over)}</p></main>`
      : html`<${Chat} t=${t} lang=${lang} relay=${relay} />`}
  `;
}

mount(render, html`<${App} />`);
