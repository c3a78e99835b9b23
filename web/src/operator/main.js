// The operator page (/ on the admin port): sign in with the admin token,
// enrol and remove talents, book sessions and hand over the link, watch and
// end live sessions, and the client tools (look up, verify, restrict,
// release, erase). Real numbers are typed in, sent only in request bodies,
// never shown back, and the field is cleared after each call.
import { render } from 'preact';
import { html } from 'htm/preact';
import * as STRINGS from '../shared/strings_operator.js';
import { useEffect, useRef, useState } from 'preact/hooks';
import { createAdminApi, apiReason, liveSessions, packageLabel, suggestSecret } from '../shared/admin_api.js';
import { formatDateTime, closeReason } from '../shared/i18n.js';
import { formatDuration, parseTime, timeLeftMs } from '../shared/countdown.js';
import { Alert, Header, mount, useLanguage, useTick } from '../ui/common.js';

const TOKEN_KEY = 'tirai.admin.token';
const REFRESH_MS = 5000;

function store() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}
function readToken() {
  try {
    return store().getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}
function writeToken(v) {
  try {
    if (v) store().setItem(TOKEN_KEY, v);
    else store().removeItem(TOKEN_KEY);
  } catch {
    // kept in memory only
  }
}

// A section with a heading that names it (a region for assistive tech).
function Section({ id, title, children, cls }) {
  return html`<section class=${'card-section ' + (cls || '')} aria-labelledby=${id}>
    <h2 id=${id}>${title}</h2>
    ${children}
  </section>`;
}

// A status line that is always in the page, so its changes are announced.
function Status({ msg }) {
  const isErr = msg && msg.error;
  return html`<p class=${msg ? 'result' + (isErr ? ' err' : ' ok') : 'result empty'} role=${isErr ? 'alert' : 'status'}>
    ${msg ? msg.text : ''}
  </p>`;
}

// ---- sign in ----

function SignIn({ t, note, onSignIn }) {
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState('');
  const submit = async (e) => {
    e.preventDefault();
    const v = token.trim();
    if (!v) return;
    setBusy(true);
    setErr('');
    const problem = await onSignIn(v);
    setBusy(false);
    if (problem) setErr(problem);
    else setToken('');
  };
  return html`<main class="page narrow">
    <h1>${t('operator_title')}</h1>
    <form class="stack" onSubmit=${submit}>
      <div class="field">
        <label for="admin-token">${t('admin_token')}</label>
        <input
          id="admin-token"
          type="password"
          autocomplete="current-password"
          spellcheck="false"
          required
          value=${token}
          onInput=${(e) => setToken(e.currentTarget.value)}
        />
      </div>
      <button type="submit" class="primary wide" disabled=${busy}>${busy ? t('signing_in') : t('sign_in')}</button>
    </form>
    <${Alert} t=${t} text=${err || (note ? t(note) : '')} />
  </main>`;
}

// ---- talents ----

function Talents({ t, api, talents, reload }) {
  const [confirm, setConfirm] = useState(null);
  const [msg, setMsg] = useState(null);
  const remove = async (alias) => {
    setConfirm(null);
    try {
      await api.removeTalent(alias);
      setMsg({ text: t('removed', { alias }) });
      reload();
    } catch (e) {
      setMsg({ error: true, text: apiReason(t, e) });
    }
  };
  return html`<${Section} id="talents-h" title=${t('talents')}>
    ${talents.length === 0 ? html`<p class="empty-note">${t('no_talents')}</p>` : null}
    <ul class="rows">
      ${talents.map(
        (x) => html`<li key=${x.alias} class="row-item">
          <div class="row-main">
            <span class="strong" id=${'talent-' + x.alias}>${x.alias}</span>
            <span class="sub">
              ${`${x.online ? t('talent_online') : t('talent_offline')} · ${t('open_sessions', { n: Number(x.open_sessions) || 0 })}`}
            </span>
          </div>
          ${confirm === x.alias
            ? html`<div class="panel" role="group" aria-labelledby=${'rm-q-' + x.alias}>
                <p id=${'rm-q-' + x.alias}>${t('remove_question', { alias: x.alias })}</p>
                <div class="row">
                  <button type="button" class="danger" onClick=${() => remove(x.alias)}>${t('remove_confirm')}</button>
                  <button type="button" class="link" onClick=${() => setConfirm(null)}>${t('cancel')}</button>
                </div>
              </div>`
            : html`<button
                type="button"
                class="danger-outline"
                aria-describedby=${'talent-' + x.alias}
                onClick=${() => setConfirm(x.alias)}
              >
                ${t('remove')}
              </button>`}
        </li>`,
      )}
    </ul>
    <${Status} msg=${msg} />
  <//>`;
}

function Enrol({ t, api, reload }) {
  const [alias, setAlias] = useState('');
  const [secret, setSecret] = useState('');
  const [msg, setMsg] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const a = alias.trim();
    if (!a || !secret) {
      setMsg({ error: true, text: t('fields_needed') });
      return;
    }
    setBusy(true);
    try {
      await api.addTalent(a, secret);
      setMsg({ text: t('enrolled', { alias: a }) });
      setAlias('');
      setSecret('');
      reload();
    } catch (err) {
      setMsg({ error: true, text: apiReason(t, err) });
    }
    setBusy(false);
  };
  return html`<${Section} id="enrol-h" title=${t('enrol_talent')}>
    <form class="stack" onSubmit=${submit}>
      <div class="field">
        <label for="enrol-alias">${t('alias')}</label>
        <input
          id="enrol-alias"
          type="text"
          autocomplete="off"
          autocapitalize="none"
          spellcheck="false"
          value=${alias}
          onInput=${(e) => setAlias(e.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for="enrol-secret">${t('secret')}</label>
        <div class="row tight">
          <input
            id="enrol-secret"
            type="text"
            autocomplete="off"
            autocapitalize="none"
            spellcheck="false"
            class="grow"
            value=${secret}
            onInput=${(e) => setSecret(e.currentTarget.value)}
          />
          <button type="button" class="small" onClick=${() => setSecret(suggestSecret())}>${t('suggest_secret')}</button>
        </div>
      </div>
      <button type="submit" class="primary" disabled=${busy}>${t('enrol_talent')}</button>
    </form>
    <${Status} msg=${msg} />
  <//>`;
}

// ---- booking ----

function copyText(text, fallbackEl) {
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(text).then(
      () => true,
      () => selectEl(fallbackEl),
    );
  }
  return Promise.resolve(selectEl(fallbackEl));
}

// Selects the text of `el` so it can be copied by hand; tries the old
// copy command too. True when that copied it.
function selectEl(el) {
  if (!el) return false;
  const range = document.createRange();
  range.selectNodeContents(el);
  const sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
  try {
    return document.execCommand('copy');
  } catch {
    return false;
  }
}

function BookingResult({ t, lang, booking, onDone }) {
  const ref = useRef(null);
  const [copied, setCopied] = useState(null);
  const link = typeof booking.client_link === 'string' && booking.client_link ? booking.client_link : null;
  const copy = async () => {
    const ok = await copyText(link || booking.client_token, ref.current);
    setCopied(ok ? 'copied' : 'copy_by_hand');
  };
  return html`<div class="booked" role="status">
    <p>
      ${t('booked', {
        client: booking.client_alias,
        talent: booking.talent,
        package: booking.package,
        until: formatDateTime(parseTime(booking.expires_at), lang),
      })}
    </p>
    <p>${link ? t('booked_link') : t('booked_no_link')}</p>
    <p class="link-box"><code ref=${ref}>${link || booking.client_token}</code></p>
    ${booking.proxy_number ? html`<p>${t('booked_proxy', { number: booking.proxy_number })}</p>` : null}
    ${booking.link_sent === true
      ? html`<p>${t('link_texted', { number: booking.proxy_number || '' })}</p>`
      : booking.link_sent === false
        ? html`<p class="result err">${t('link_not_texted')}</p>`
        : null}
    <div class="row">
      <button type="button" class="primary" onClick=${copy}>${link ? t('copy_link') : t('copy_token')}</button>
      <button type="button" class="link" onClick=${onDone}>${t('dismiss')}</button>
    </div>
    ${copied ? html`<p class="note">${t(copied)}</p>` : null}
  </div>`;
}

function Book({ t, lang, api, talents, packages, smsOffered, reload }) {
  const [talent, setTalent] = useState('');
  const [pkg, setPkg] = useState('');
  const [number, setNumber] = useState('');
  const [proxy, setProxy] = useState(true);
  const [textLink, setTextLink] = useState(false);
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState(null);
  const [booking, setBooking] = useState(null);
  const chosenTalent = talent || (talents[0] && talents[0].alias) || '';
  const chosenPkg = pkg || (packages[0] && packages[0].name) || '';
  const submit = async (e) => {
    e.preventDefault();
    const n = number.trim();
    setNumber(''); // never kept on the page, whatever the answer
    if (!chosenTalent || !chosenPkg || !n) {
      setMsg({ error: true, text: t('fields_needed') });
      return;
    }
    setBusy(true);
    setBooking(null);
    setMsg(null);
    try {
      const res = await api.book(chosenTalent, n, chosenPkg, smsOffered && proxy, smsOffered && proxy && textLink);
      setBooking({ ...res, talent: chosenTalent, package: chosenPkg });
      reload();
    } catch (err) {
      setMsg({ error: true, text: apiReason(t, err) });
    }
    setBusy(false);
  };
  return html`<${Section} id="book-h" title=${t('book_session')}>
    <form class="stack" onSubmit=${submit}>
      <div class="field">
        <label for="book-talent">${t('talent')}</label>
        <select id="book-talent" value=${chosenTalent} onChange=${(e) => setTalent(e.currentTarget.value)}>
          ${talents.map((x) => html`<option key=${x.alias} value=${x.alias}>${x.alias}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="book-package">${t('package')}</label>
        <select id="book-package" value=${chosenPkg} onChange=${(e) => setPkg(e.currentTarget.value)}>
          ${packages.map((p) => html`<option key=${p.name} value=${p.name}>${packageLabel(p)}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="book-number">${t('client_number')}</label>
        <input
          id="book-number"
          type="tel"
          inputmode="tel"
          autocomplete="off"
          aria-describedby="book-number-hint"
          value=${number}
          onInput=${(e) => setNumber(e.currentTarget.value)}
        />
        <span id="book-number-hint" class="hint">${t('number_hint')}</span>
      </div>
      ${smsOffered
        ? html`<div class="check">
            <input id="book-proxy" type="checkbox" checked=${proxy} onChange=${(e) => setProxy(e.currentTarget.checked)} />
            <label for="book-proxy">${t('proxy_number_opt')}</label>
          </div>
          <div class="check">
            <input
              id="book-text-link"
              type="checkbox"
              checked=${proxy && textLink}
              disabled=${!proxy}
              onChange=${(e) => setTextLink(e.currentTarget.checked)}
            />
            <label for="book-text-link">${t('text_link')}</label>
          </div>`
        : null}
      <button type="submit" class="primary" disabled=${busy}>${t('book')}</button>
    </form>
    <${Status} msg=${msg} />
    ${booking ? html`<${BookingResult} t=${t} lang=${lang} booking=${booking} onDone=${() => setBooking(null)} />` : null}
  <//>`;
}

// ---- live sessions ----

function TimeLeft({ t, closing, untilMs }) {
  const now = useTick();
  const ms = timeLeftMs(untilMs, now);
  if (!Number.isFinite(ms)) return '';
  if (ms === 0) return t('time_up');
  return t(closing ? 'closing_in' : 'time_left', { time: formatDuration(ms) });
}

function LiveSessions({ t, api, sessions, reload, error }) {
  const [msg, setMsg] = useState(null);
  const end = async (id) => {
    try {
      await api.endSession(id);
      setMsg({ text: t('ending_requested', { session: id }) });
      reload();
    } catch (e) {
      setMsg({ error: true, text: apiReason(t, e) });
    }
  };
  const live = liveSessions(sessions);
  return html`<${Section} id="live-h" title=${t('live_sessions')}>
    ${live.length === 0 ? html`<p class="empty-note">${t('no_live_sessions')}</p>` : null}
    <ul class="rows">
      ${live.map((s) => {
        const state = t('state_' + s.state) === 'state_' + s.state ? s.state : t('state_' + s.state);
        const until = s.state === 'closing' && s.closing_until ? s.closing_until : s.expires_at;
        return html`<li key=${s.session} class="row-item">
          <div class="row-main" id=${'live-' + s.session}>
            <span class="strong">${s.client_alias || '—'} ↔ ${s.talent}</span>
            <span class="sub">
              ${s.package} · ${state} · <${TimeLeft} t=${t} closing=${s.state === 'closing'} untilMs=${parseTime(until)} />
              ${s.close_reason ? ' · ' + closeReason(t, s.close_reason) : ''}
            </span>
            <span class="sub mono">${s.session}</span>
          </div>
          <button type="button" class="danger-outline" aria-describedby=${'live-' + s.session} onClick=${() => end(s.session)}>
            ${t('end')}
          </button>
        </li>`;
      })}
    </ul>
    <${Status} msg=${msg || (error ? { error: true, text: t('refresh_failed', { reason: error }) } : null)} />
  <//>`;
}

// ---- client tools ----

function ClientTools({ t, lang, api }) {
  const [number, setNumber] = useState('');
  const [method, setMethod] = useState('id_selfie');
  const [confirm, setConfirm] = useState(false);
  const [msg, setMsg] = useState(null);
  const [busy, setBusy] = useState(false);
  const run = async (what) => {
    const n = number.trim();
    if (!n) {
      setMsg({ error: true, text: t('number_needed') });
      return;
    }
    setBusy(true);
    setMsg(null);
    try {
      if (what === 'lookup') {
        const r = (await api.lookupClient(n)) || {};
        const rating =
          r.rating && typeof r.rating.average === 'number' && r.rating.count
            ? t('rating', { avg: Math.round(r.rating.average * 10) / 10, n: r.rating.count })
            : t('no_rating');
        let verified = r.verified ? t('verified') : t('not_verified');
        if (r.verified && r.verify_method) verified += ` (${r.verify_method}, ${formatDateTime(parseTime(r.verified_at), lang)})`;
        setMsg({
          text: t('lookup_result', {
            verified,
            restricted: r.restricted ? t('restricted_yes') : t('restricted_no'),
            rating,
            sessions: Number(r.sessions) || 0,
          }),
        });
      } else if (what === 'verify') {
        await api.verifyClient(n, method);
        setMsg({ text: t('done_verify') });
      } else if (what === 'restrict') {
        await api.restrictClient(n, true);
        setMsg({ text: t('done_restrict') });
      } else if (what === 'release') {
        await api.restrictClient(n, false);
        setMsg({ text: t('done_release') });
      } else if (what === 'erase') {
        await api.eraseClient(n);
        setMsg({ text: t('done_erase') });
      }
    } catch (e) {
      setMsg({ error: true, text: apiReason(t, e) });
    }
    setNumber(''); // the number is not kept on the page
    setConfirm(false);
    setBusy(false);
  };
  return html`<${Section} id="tools-h" title=${t('client_tools')}>
    <form class="stack" onSubmit=${(e) => { e.preventDefault(); run('lookup'); }}>
      <div class="field">
        <label for="tools-number">${t('client_number')}</label>
        <input
          id="tools-number"
          type="tel"
          inputmode="tel"
          autocomplete="off"
          aria-describedby="tools-number-hint"
          value=${number}
          onInput=${(e) => setNumber(e.currentTarget.value)}
        />
        <span id="tools-number-hint" class="hint">${t('number_hint')}</span>
      </div>
      <div class="field">
        <label for="tools-method">${t('verify_method')}</label>
        <select id="tools-method" value=${method} onChange=${(e) => setMethod(e.currentTarget.value)}>
          <option value="id_selfie">${t('method_id_selfie')}</option>
          <option value="in_person">${t('method_in_person')}</option>
          <option value="other">${t('method_other')}</option>
        </select>
      </div>
      <div class="row wrap">
        <button type="submit" disabled=${busy}>${t('look_up')}</button>
        <button type="button" disabled=${busy} onClick=${() => run('verify')}>${t('verify')}</button>
        <button type="button" disabled=${busy} onClick=${() => run('restrict')}>${t('restrict')}</button>
        <button type="button" disabled=${busy} onClick=${() => run('release')}>${t('release')}</button>
        <button type="button" class="danger-outline" disabled=${busy} onClick=${() => setConfirm(true)}>${t('erase_client')}</button>
      </div>
      ${confirm
        ? html`<div class="panel" role="group" aria-labelledby="erase-q">
            <p id="erase-q">${t('erase_question')}</p>
            <div class="row">
              <button type="button" class="danger" disabled=${busy} onClick=${() => run('erase')}>${t('erase_confirm')}</button>
              <button type="button" class="link" onClick=${() => setConfirm(false)}>${t('cancel')}</button>
            </div>
          </div>`
        : null}
    </form>
    <${Status} msg=${msg} />
  <//>`;
}

// ---- the page ----

function Dashboard({ t, lang, api }) {
  const [talents, setTalents] = useState([]);
  const [packages, setPackages] = useState([]);
  const [smsOffered, setSmsOffered] = useState(false);
  const [sessions, setSessions] = useState([]);
  const [error, setError] = useState('');
  const tRef = useRef(t);
  tRef.current = t;

  const reload = async () => {
    try {
      const [ts, ss] = await Promise.all([api.talents(), api.sessions()]);
      setTalents(ts.filter((x) => typeof x.alias === 'string'));
      setSessions(ss.filter((x) => typeof x.session === 'string'));
      setError('');
    } catch (e) {
      if (e.status !== 401) setError(apiReason(tRef.current, e));
    }
  };

  useEffect(() => {
    api
      .offer()
      .then(({ packages: ps, sms }) => {
        setPackages(ps.filter((p) => typeof p.name === 'string'));
        setSmsOffered(sms);
      })
      .catch(() => {});
    reload();
    const timer = setInterval(() => {
      if (!document.hidden) reload();
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, [api]);

  return html`<main class="dash">
    <h1 class="vh">${t('operator_title')}</h1>
    <${LiveSessions} t=${t} api=${api} sessions=${sessions} reload=${reload} error=${error} />
    <${Book} t=${t} lang=${lang} api=${api} talents=${talents} packages=${packages} smsOffered=${smsOffered} reload=${reload} />
    <${Talents} t=${t} api=${api} talents=${talents} reload=${reload} />
    <${Enrol} t=${t} api=${api} reload=${reload} />
    <${ClientTools} t=${t} lang=${lang} api=${api} />
  </main>`;
}

function App() {
  const { lang, setLang, t } = useLanguage(STRINGS);
  const [token, setToken] = useState(readToken);
  const [note, setNote] = useState(null);
  const tokenRef = useRef(token);
  tokenRef.current = token;
  const signOut = (why) => {
    writeToken('');
    setToken('');
    setNote(why || null);
  };
  const [api] = useState(() =>
    createAdminApi({
      fetch: (url, init) => window.fetch(url, init),
      token: () => tokenRef.current,
      onUnauthorized: () => signOut('token_refused'),
    }),
  );
  useEffect(() => {
    document.title = `${t('operator_title')} · tirai`;
  }, [t]);

  const signIn = async (candidate) => {
    tokenRef.current = candidate;
    try {
      await api.talents();
    } catch (e) {
      tokenRef.current = '';
      return e.status === 401 ? t('token_refused') : apiReason(t, e);
    }
    writeToken(candidate);
    setNote(null);
    setToken(candidate);
    return null;
  };

  return html`
    <${Header} t=${t} lang=${lang} setLang=${setLang} title=${t('operator_title')} status=${null}>
      ${token ? html`<button type="button" class="small" onClick=${() => signOut(null)}>${t('sign_out')}</button>` : null}
    <//>
    ${token ? html`<${Dashboard} t=${t} lang=${lang} api=${api} />` : html`<${SignIn} t=${t} note=${note} onSignIn=${signIn} />`}
  `;
}

mount(render, html`<${App} />`);
