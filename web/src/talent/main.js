// The talent console (/talent/ on the relay port): log in under the alias,
// every live session with its countdown, chat, notices, a polite end,
// rating the client, log out, delete the account.
import { render } from 'preact';
import { html } from 'htm/preact';
import * as STRINGS from '../shared/strings_talent.js';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { RelaySocket, wsUrlFor } from '../shared/relay_socket.js';
import { closeReason, errorReason } from '../shared/i18n.js';
import { sessionCountdown } from '../shared/countdown.js';
import { Alert, ConnectionStatus, Header, mount, useLanguage, useNudge, useRelay, useTick } from '../ui/common.js';
import { Composer, Conversation, SessionNotice } from '../ui/chat.js';
import { createAttention } from '../ui/attention.js';
import { CallBar, newCalls, useCalls } from '../ui/call.js';

const STORAGE_KEY = 'tirai.resume.talent';

function storage() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

function newRelay() {
  return new RelaySocket({
    role: 'talent',
    url: wsUrlFor(location),
    WebSocket: window.WebSocket,
    storage: storage(),
  });
}

function hasTicket() {
  try {
    return !!storage().getItem(STORAGE_KEY);
  } catch {
    return false;
  }
}

// ---- log in ----

function LoginForm({ t, relay, note, onLogin }) {
  const [alias, setAlias] = useState('');
  const [secret, setSecret] = useState('');
  // Trying: the relay is being reached. While it cannot be (offline, waiting
  // to try again) the form stays usable.
  const trying = relay && !relay.everOnline && (relay.status === 'connecting' || relay.status === 'offline');
  const busy = trying && relay.status === 'connecting';
  useEffect(() => {
    if (note) setSecret('');
  }, [note]);
  const submit = (e) => {
    e.preventDefault();
    const a = alias.trim().toLowerCase();
    if (!a || !secret) return;
    onLogin(a, secret);
  };
  return html`<main class="page narrow">
    <h1>${t('talent_title')}</h1>
    <form class="stack" onSubmit=${submit}>
      <div class="field">
        <label for="login-alias">${t('alias')}</label>
        <input
          id="login-alias"
          type="text"
          autocomplete="username"
          autocapitalize="none"
          spellcheck="false"
          required
          value=${alias}
          onInput=${(e) => setAlias(e.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for="login-secret">${t('secret')}</label>
        <input
          id="login-secret"
          type="password"
          autocomplete="current-password"
          required
          value=${secret}
          onInput=${(e) => setSecret(e.currentTarget.value)}
        />
      </div>
      <button type="submit" class="primary wide" disabled=${busy}>${busy ? t('logging_in') : t('log_in')}</button>
    </form>
    <${Alert} t=${t} text=${note === 'login_failed' ? t('login_failed') : ''} />
    ${note && note !== 'login_failed' ? html`<p class="note" role="status">${t(note)}</p>` : null}
    ${trying ? html`<${ConnectionStatus} t=${t} relay=${relay} />` : null}
  </main>`;
}

// ---- the list of sessions ----

function standingText(t, client) {
  if (!client) return '';
  const bits = [client.verified ? t('verified') : t('not_verified')];
  const r = client.rating;
  if (r && typeof r.average === 'number' && r.count) {
    bits.push(t('rating', { avg: (Math.round(r.average * 10) / 10).toString(), n: r.count }));
  } else {
    bits.push(t('no_rating'));
  }
  return bits.join(' · ');
}

function stateText(t, s) {
  return t('state_' + s.state) === 'state_' + s.state ? s.state : t('state_' + s.state);
}

function channelsText(t, s) {
  return s.channels.map((c) => (t('channel_' + c) === 'channel_' + c ? c : t('channel_' + c))).join(' + ');
}

function TimeLine({ t, s }) {
  const now = useTick();
  const c = sessionCountdown(s, now);
  if (c.kind === 'grace') return t('closing_in', { time: c.text });
  if (c.kind === 'left') return t('time_left', { time: c.text });
  if (c.kind === 'expired') return t('time_up');
  return s.reason ? closeReason(t, s.reason) : stateText(t, s);
}

// A card: the button's name is the client alias only; the rest of the card
// describes it (aria-describedby) and sits outside the button, which
// stretches over the whole card so a tap anywhere selects it.
function SessionCard({ t, s, selected, onSelect }) {
  return html`<li class=${'card' + (selected ? ' sel' : '') + (s.state === 'closed' ? ' done' : '')}>
    <span class="card-top">
      <button
        type="button"
        class="card-btn"
        id=${'n-' + s.id}
        aria-current=${selected ? 'true' : undefined}
        aria-describedby=${'d-' + s.id}
        onClick=${() => onSelect(s.id)}
      >
        ${s.peer || s.id}
      </button>
      ${s.unread ? html`<span class="badge" aria-hidden="true">${s.unread}</span>` : null}
    </span>
    <span class="card-desc" id=${'d-' + s.id}>
      <span class="line"><${TimeLine} t=${t} s=${s} />${s.unread ? ' · ' + t('unread', { n: s.unread }) : ''}</span
      ><span class="vh">. </span>
      <span class="line">${stateText(t, s)} · ${s.package}${s.channels.length ? ' (' + channelsText(t, s) + ')' : ''}</span
      ><span class="vh">. </span>
      ${s.client ? html`<span class="line">${standingText(t, s.client)}</span>` : null}
    </span>
  </li>`;
}

function SessionList({ t, relay, selected, onSelect }) {
  const list = [...relay.sessions.values()].sort((a, b) => (a.state === 'closed') - (b.state === 'closed'));
  return html`<nav class="sessions" aria-labelledby="sessions-h">
    <h2 id="sessions-h" class="section-title">${t('sessions')} (${list.length})</h2>
    ${list.length
      ? html`<ul class="cards">
          ${list.map((s) => html`<${SessionCard} key=${s.id} t=${t} s=${s} selected=${s.id === selected} onSelect=${onSelect} />`)}
        </ul>`
      : html`<p class="empty-note">${relay.everOnline ? t('no_sessions') : t('status_connecting')}</p>`}
  </nav>`;
}

// ---- one session ----

function Farewell({ t, onSendAndEnd, onEnd, onCancel }) {
  const [text, setText] = useState(() => t('farewell_default'));
  const ref = useRef(null);
  useEffect(() => {
    if (ref.current) ref.current.focus();
  }, []);
  return html`<div class="panel">
    <label id="farewell-label" for="farewell-text">${t('farewell')}</label>
    <textarea id="farewell-text" ref=${ref} rows="2" value=${text} onInput=${(e) => setText(e.currentTarget.value)}></textarea>
    <div class="row">
      <button type="button" class="primary" onClick=${() => onSendAndEnd(text.trim())}>${t('send_and_end')}</button>
      <button type="button" onClick=${onEnd}>${t('end_without_message')}</button>
      <button type="button" class="link" onClick=${onCancel}>${t('cancel')}</button>
    </div>
  </div>`;
}

function Rating({ t, relay, s }) {
  const [offline, setOffline] = useState(false);
  const rate = (n) => setOffline(!relay.rate(s.id, n));
  return html`<div class="rate" role="group" aria-labelledby=${'rate-' + s.id}>
    <p id=${'rate-' + s.id} class="rate-title">${t('rate_heading')}</p>
    <div class="row">
      ${[1, 2, 3, 4, 5].map(
        (n) => html`<button
          type="button"
          class="rate-btn"
          aria-label=${t('rate_n', { n })}
          aria-pressed=${s.rated === n ? 'true' : 'false'}
          onClick=${() => rate(n)}
        >
          ${n}
        </button>`,
      )}
    </div>
    ${s.rated ? html`<p class="note">${t('rated', { score: s.rated })}</p>` : null}
    ${offline ? html`<p class="note" role="alert">${t('rate_offline')}</p>` : null}
  </div>`;
}

function SessionView({ t, lang, relay, calls, s }) {
  const [ending, setEnding] = useState(false);
  useEffect(() => setEnding(false), [s.id]);
  const live = s.state === 'open' || s.state === 'active';
  const closing = s.state === 'closing';
  const closed = s.state === 'closed';
  return html`<section class="chat" aria-labelledby="chat-h">
    <div class="chat-head">
      <h2 id="chat-h">${t('session_with', { alias: s.peer || s.id })}</h2>
      <p class="sub">
        ${`${s.package}${s.channels.length ? ' (' + channelsText(t, s) + ')' : ''} · ${stateText(t, s)} · `}<${TimeLine} t=${t} s=${s} />
      </p>
      ${s.client ? html`<p class="sub">${standingText(t, s.client)}</p>` : null}
    </div>
    <${SessionNotice} t=${t} session=${s} />
    ${s.channels.includes('voice') ? html`<${CallBar} t=${t} calls=${calls} relay=${relay} session=${s} />` : null}
    <${Conversation} t=${t} lang=${lang} session=${s} />
    ${closed || !s.channels.includes('chat')
      ? null
      : html`<${Composer} t=${t} idPrefix="talent" onSend=${(text) => relay.send(s.id, text)} />`}
    <div class="actions">
      ${live && !ending
        ? html`<button type="button" class="danger-outline" onClick=${() => setEnding(true)}>${t('end_session')}</button>`
        : null}
      ${live && ending
        ? html`<${Farewell}
            t=${t}
            onSendAndEnd=${(text) => {
              if (text) relay.send(s.id, text);
              relay.end(s.id);
              setEnding(false);
            }}
            onEnd=${() => {
              relay.end(s.id);
              setEnding(false);
            }}
            onCancel=${() => setEnding(false)}
          />`
        : null}
      ${closing ? html`<button type="button" class="danger-outline" onClick=${() => relay.end(s.id)}>${t('close_now')}</button>` : null}
      ${closed ? html`<button type="button" onClick=${() => relay.dismiss(s.id)}>${t('remove_from_list')}</button>` : null}
    </div>
    ${closing || closed ? html`<${Rating} t=${t} relay=${relay} s=${s} />` : null}
  </section>`;
}

// ---- the account ----

function Account({ t, relay }) {
  const [open, setOpen] = useState(false);
  const [secret, setSecret] = useState('');
  const [state, setState] = useState(null); // null | 'busy' | {error}
  useEffect(
    () =>
      relay.subscribe((e) => {
        if (e.kind === 'delete_failed') setState({ error: errorReason(t, e.code) });
      }),
    [relay, t],
  );
  const submit = (e) => {
    e.preventDefault();
    if (!secret) return;
    if (relay.deleteAccount(secret)) setState('busy');
    else setState({ error: t('delete_offline') });
    setSecret('');
  };
  return html`<section class="account" aria-labelledby="account-h">
    <h2 id="account-h" class="section-title">${t('account')}</h2>
    <div class="row">
      <button type="button" class="danger-outline" aria-expanded=${open ? 'true' : 'false'} onClick=${() => setOpen(!open)}>
        ${t('delete_account')}
      </button>
    </div>
    ${open
      ? html`<form class="panel stack" onSubmit=${submit}>
          <p>${t('delete_explain')}</p>
          <div class="field">
            <label for="delete-secret">${t('secret')}</label>
            <input
              id="delete-secret"
              type="password"
              autocomplete="current-password"
              required
              value=${secret}
              onInput=${(e) => setSecret(e.currentTarget.value)}
            />
          </div>
          <div class="row">
            <button type="submit" class="danger" disabled=${state === 'busy'}>
              ${state === 'busy' ? t('deleting') : t('delete_confirm')}
            </button>
            <button type="button" class="link" onClick=${() => { setOpen(false); setState(null); setSecret(''); }}>${t('cancel')}</button>
          </div>
          <${Alert} t=${t} text=${state && state.error ? t('delete_failed', { reason: state.error }) : ''} />
        </form>`
      : null}
  </section>`;
}

// ---- the console ----

function Console({ t, lang, relay }) {
  const [selected, setSelected] = useState(null);
  // The phone line's SIP stack comes with the relay's first SIP account (build.mjs: lazy).
  // eslint-disable-next-line no-undef
  const calls = useMemo(() => newCalls(relay, () => import(__SIP_MODULE__)), [relay]);
  useEffect(() => {
    const off = calls.subscribe((e) => {
      if (e.kind === 'ringing') attention.bump();
    });
    return () => {
      off();
      calls.stop();
    };
  }, [calls]);
  useCalls(calls);
  const [hidden, setHidden] = useState(document.hidden);
  useEffect(() => {
    const on = () => setHidden(document.hidden);
    document.addEventListener('visibilitychange', on);
    return () => document.removeEventListener('visibilitychange', on);
  }, []);
  // keep a valid selection: the first session when none is chosen
  let sel = selected && relay.sessions.has(selected) ? selected : null;
  if (!sel && relay.sessions.size) sel = relay.sessions.keys().next().value;
  useEffect(() => {
    relay.setFocus(hidden ? null : sel);
  });
  // acknowledge what is now on the screen
  useEffect(() => relay.flushAcks());
  const s = sel ? relay.sessions.get(sel) : null;
  // A call of another session than the one on screen shows above the list.
  const other = calls.call && calls.call.phase !== 'ended' && calls.call.session !== sel
    ? relay.sessions.get(calls.call.session)
    : null;
  return html`<main class="console">
    <h1 class="vh">${t('talent_title')}</h1>
    <${ConnectionStatus} t=${t} relay=${relay} />
    <${Alert}
      t=${t}
      text=${relay.lastError ? t('error_notice', { reason: errorReason(t, relay.lastError.code) }) : ''}
      onDismiss=${() => {
        relay.lastError = null;
        relay.emit({ kind: 'change' });
      }}
    />
    ${other ? html`<${CallBar} t=${t} calls=${calls} relay=${relay} session=${other} showPeer=${true} />` : null}
    <${SessionList} t=${t} relay=${relay} selected=${sel} onSelect=${setSelected} />
    ${s ? html`<${SessionView} key=${s.id} t=${t} lang=${lang} relay=${relay} calls=${calls} s=${s} />` : null}
    <${Account} t=${t} relay=${relay} />
  </main>`;
}

const attention = createAttention({ beep: true });

function App() {
  const { lang, setLang, t } = useLanguage(STRINGS);
  // The relay connection: one per login, made at once when a resume ticket
  // survived a reload.
  const [relay, setRelay] = useState(() => (hasTicket() ? newRelay() : null));
  // A login's alias and secret, with the connection they are for, held
  // until that connection starts.
  const loginWith = useRef(null);
  const [note, setNote] = useState(null);
  const [gone, setGone] = useState(null); // 'deleted'
  useRelay(relay);
  useNudge(relay);

  useEffect(() => {
    attention.setBase(`${t('talent_title')} · tirai`);
  }, [t]);

  useEffect(() => {
    if (!relay) return undefined;
    return relay.subscribe((e) => {
      if (e.kind === 'message' || e.kind === 'booked') attention.bump();
      else if (e.kind === 'auth_failed') {
        setNote(e.reason === 'credentials' ? 'login_failed' : e.reason === 'resume' ? 'login_again' : null);
        setRelay(null);
      } else if (e.kind === 'deleted') {
        clearStorage();
        setGone('deleted');
        setRelay(null);
      }
    });
  }, [relay]);

  // Started only once every listener above (and the children's) is in
  // place: a resume on a near relay is welcomed within milliseconds, and a
  // welcome nobody heard left the console "Connecting…".
  useEffect(() => {
    if (!relay) return undefined;
    if (!relay.started) {
      const login = loginWith.current;
      if (login && login.relay === relay) {
        loginWith.current = null;
        relay.start({ alias: login.alias, secret: login.secret });
      } else if (!login) relay.start();
      // else: a later login replaced this one before it started.
    }
    // A connection replaced (a new login, a failure, logging out) never runs on.
    return () => relay.stop();
  }, [relay]);

  const login = (alias, secret) => {
    if (relay) relay.stop();
    const r = newRelay();
    loginWith.current = { relay: r, alias, secret };
    setNote(null);
    setRelay(r);
  };
  const logout = () => {
    if (relay) relay.logout();
    clearStorage();
    attention.reset();
    setRelay(null);
    setNote('logged_out');
  };

  const inConsole = relay && (relay.everOnline || hasTicket());
  let body;
  if (gone === 'deleted') body = html`<main class="page narrow"><p class="big" role="status">${t('account_deleted')}</p></main>`;
  else if (inConsole) body = html`<${Console} t=${t} lang=${lang} relay=${relay} />`;
  else body = html`<${LoginForm} t=${t} relay=${relay} note=${note} onLogin=${login} />`;

  return html`
    <${Header} t=${t} lang=${lang} setLang=${setLang} title=${t('talent_title')} status=${inConsole ? relay.status : null}>
      ${inConsole ? html`<button type="button" class="small" onClick=${logout}>${t('log_out')}</button>` : null}
    <//>
    ${body}
  `;
}

function clearStorage() {
  try {
    storage().clear();
  } catch {
    // nothing stored
  }
}

mount(render, html`<${App} />`);
