// Pieces every app draws: the header bar with its language switch and the
// reserved call-bar slot, the connection line, countdowns that tick once a
// second, and the hooks that tie a RelaySocket to a view.
import { html } from 'htm/preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { pickLanguage, translator } from '../shared/i18n.js';
import { formatDuration, timeLeftMs } from '../shared/countdown.js';

// ---- one ticker for every countdown on the page ----

const tickListeners = new Set();
let tickTimer = null;

// Re-renders the calling component every second; returns the time.
export function useTick() {
  const [, setN] = useState(0);
  useEffect(() => {
    const fn = () => setN((n) => n + 1);
    tickListeners.add(fn);
    if (tickTimer === null) {
      tickTimer = setInterval(() => {
        for (const f of tickListeners) f();
      }, 1000);
    }
    return () => {
      tickListeners.delete(fn);
      if (!tickListeners.size && tickTimer !== null) {
        clearInterval(tickTimer);
        tickTimer = null;
      }
    };
  }, []);
  return Date.now();
}

// Re-renders whenever the RelaySocket changes.
export function useRelay(relay) {
  const [, setN] = useState(0);
  useEffect(() => (relay ? relay.subscribe(() => setN((n) => n + 1)) : undefined), [relay]);
}

// Tries again at once when the network comes back or the tab is shown
// again, instead of waiting out the backoff.
export function useNudge(relay) {
  useEffect(() => {
    if (!relay) return undefined;
    const now = () => relay.retryNow();
    const shown = () => {
      if (!document.hidden) relay.retryNow();
    };
    window.addEventListener('online', now);
    document.addEventListener('visibilitychange', shown);
    return () => {
      window.removeEventListener('online', now);
      document.removeEventListener('visibilitychange', shown);
    };
  }, [relay]);
}

// ---- language ----

function initialLanguage() {
  const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  return pickLanguage(langs, new URLSearchParams(location.search));
}

// The page's language, switchable at run time. The choice is kept in the
// address (?lang=), not in storage, so a reload keeps it.
// `strings`: the app's own strings, {en, id}.
export function useLanguage(strings) {
  const [lang, setLangState] = useState(initialLanguage);
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);
  const t = useMemo(() => translator(lang, strings), [lang]);
  const setLang = (l) => {
    setLangState(l);
    try {
      const q = new URLSearchParams(location.search);
      q.set('lang', l);
      history.replaceState(history.state, '', location.pathname + '?' + q.toString());
    } catch {
      // a sandboxed frame: the switch still works for this page
    }
  };
  return { lang, setLang, t };
}

export function LangSwitch({ lang, setLang, t }) {
  const b = (code, title) => html`
    <button
      type="button"
      class="lang-btn"
      lang=${code}
      title=${title}
      aria-pressed=${lang === code ? 'true' : 'false'}
      onClick=${() => setLang(code)}
    >
      ${code.toUpperCase()}
    </button>
  `;
  return html`<div class="lang" role="group" aria-label=${t('language')}>
    ${b('en', t('lang_en_title'))}${b('id', t('lang_id_title'))}
  </div>`;
}

// ---- header ----

// `status` is the RelaySocket's, or null on pages without one.
export function Header({ t, lang, setLang, title, status, children }) {
  return html`<header class="bar">
    <div class="bar-row">
      <span class="brand">${t('app_name')}</span>
      <span class="where">${title}</span>
      ${status ? html`<${StatusPill} t=${t} status=${status} />` : null}
      <span class="spacer"></span>
      ${children}
      <${LangSwitch} lang=${lang} setLang=${setLang} t=${t} />
    </div>
    <div class="callbar" data-slot="call"></div>
  </header>`;
}

function StatusPill({ t, status }) {
  const key =
    status === 'online' ? 'status_online' : status === 'offline' ? 'status_offline' : 'status_connecting';
  const cls = status === 'online' ? 'pill on' : status === 'offline' ? 'pill off' : 'pill wait';
  if (status !== 'online' && status !== 'offline' && status !== 'connecting') return null;
  return html`<span class=${cls}><span class="dot" aria-hidden="true"></span>${t(key)}</span>`;
}

// The connection line under the header: says when the page is offline and
// when it tries again. Always in the page (empty when online) so that
// screen readers announce its changes.
export function ConnectionStatus({ t, relay }) {
  const now = useTick();
  let body = null;
  if (relay && relay.status === 'offline') {
    const left = timeLeftMs(relay.retryAt, now);
    body = html`<span>
        ${Number.isFinite(left) && left > 0
          ? t('status_offline_retry', { time: formatDuration(left) })
          : t('status_offline_now')}
      </span>
      <button type="button" class="small" onClick=${() => relay.retryNow()}>${t('retry_now')}</button>`;
  } else if (relay && relay.status === 'connecting') {
    body = html`<span>${t('status_connecting')}</span>`;
  }
  return html`<div class=${body ? 'conn' : 'conn empty'} role="status">${body}</div>`;
}

// An error that has no better place: role alert, with a way to close it.
export function Alert({ t, text, onDismiss }) {
  return html`<div class=${text ? 'alert' : 'alert empty'} role="alert">
    ${text
      ? html`<span>${text}</span>
          ${onDismiss
            ? html`<button type="button" class="small" onClick=${onDismiss}>${t('dismiss')}</button>`
            : null}`
      : null}
  </div>`;
}

// Mounts `vnode` into #app, replacing the "loading" text.
export function mount(render, vnode) {
  const root = document.getElementById('app');
  root.textContent = '';
  render(vnode, root);
}
