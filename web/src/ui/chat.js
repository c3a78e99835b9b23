// The chat pieces the talent console and the client page share: the
// conversation (role log), the composer, and the session's notice line.
import { html } from 'htm/preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { closeReason, errorReason, formatClock } from '../shared/i18n.js';
import { formatDuration, timeLeftMs } from '../shared/countdown.js';
import { useTick } from './common.js';

// A relay notice as a line of the conversation.
export function systemText(t, item) {
  const p = item.params || {};
  switch (item.code) {
    case 'expiring':
      return t('sys_expiring', { time: formatDuration((Number(p.seconds) || 0) * 1000) });
    case 'quota':
      return t('sys_quota', { n: p.remaining });
    case 'closing':
      return p.reason ? t('sys_closing', { reason: closeReason(t, p.reason) }) : t('sys_closing_plain');
    case 'closed':
      return p.reason ? t('sys_closed', { reason: closeReason(t, p.reason) }) : t('sys_closed_plain');
    case 'rated':
      return t('sys_rated', { score: p.score });
    case 'call_ended': {
      const seconds = Number(p.seconds) || 0;
      const text = t('call_end_' + p.reason);
      return seconds > 0 ? t('call_end_talked', { what: text, time: formatDuration(seconds * 1000) }) : text;
    }
    default:
      return '';
  }
}

function statusText(t, item) {
  if (item.status === 'sending') return item.retrying ? t('msg_retrying') : t('msg_sending');
  if (item.status === 'sent') return t('msg_sent');
  if (item.status === 'failed') return t('msg_failed', { reason: errorReason(t, item.failCode) });
  return '';
}

function Message({ t, lang, item, peer }) {
  const who = item.mine ? t('you') : item.from || peer;
  const status = statusText(t, item);
  const cls = 'msg ' + (item.mine ? 'mine' : 'theirs') + (item.status === 'failed' ? ' failed' : '');
  return html`<div class=${cls}>
    <p class="msg-text"><span class="vh">${who}: </span>${item.text}</p>
    <p class="msg-meta">
      <span>${formatClock(item.atMs, lang)}</span>
      ${status ? html`<span class=${'msg-status ' + item.status}>${status}</span>` : null}
      ${item.redacted ? html`<span class="msg-status">${t('msg_redacted')}</span>` : null}
    </p>
  </div>`;
}

// The conversation, oldest first, kept scrolled to the newest line unless
// the person scrolled up to read.
export function Conversation({ t, lang, session }) {
  const ref = useRef(null);
  const stick = useRef(true);
  const items = session ? session.items : [];
  const last = items.length ? items[items.length - 1] : null;
  useLayoutEffect(() => {
    const el = ref.current;
    if (el && (stick.current || (last && last.mine && last.status === 'sending'))) el.scrollTop = el.scrollHeight;
  });
  useEffect(() => {
    stick.current = true;
  }, [session && session.id]);
  const onScroll = () => {
    const el = ref.current;
    if (el) stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  };
  return html`<div class="log" role="log" aria-label=${t('conversation')} tabindex="0" ref=${ref} onScroll=${onScroll}>
    ${items.map((item) =>
      item.kind === 'system'
        ? html`<p class="sys" key=${item.key}>${systemText(t, item)}</p>`
        : html`<${Message} key=${item.key} t=${t} lang=${lang} item=${item} peer=${session.peer} />`,
    )}
  </div>`;
}

// The message box and Send. Enter sends, Shift+Enter starts a new line.
export function Composer({ t, onSend, disabled, idPrefix }) {
  const [text, setText] = useState('');
  const ref = useRef(null);
  const id = (idPrefix || 'c') + '-message';
  const submit = (e) => {
    if (e) e.preventDefault();
    const v = text.trim();
    if (!v || disabled) return;
    onSend(v);
    setText('');
    if (ref.current) ref.current.focus();
  };
  const onKeyDown = (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) submit(e);
  };
  return html`<form class="composer" onSubmit=${submit}>
    <label for=${id} class="vh">${t('message')}</label>
    <textarea
      id=${id}
      ref=${ref}
      rows="2"
      placeholder=${t('message_placeholder')}
      value=${text}
      onInput=${(e) => setText(e.currentTarget.value)}
      onKeyDown=${onKeyDown}
      autocomplete="off"
    ></textarea>
    <button type="submit" class="primary" disabled=${disabled}>${t('send')}</button>
  </form>`;
}

// A sentence whose {time} ticks each second without being announced each
// second: the sentence is announced once, the seconds change silently.
function ticking(t, key, time) {
  const [before, after] = t(key, { time: '\u0000' }).split('\u0000');
  return html`${before}<span aria-live="off" class="tick">${time}</span>${after}`;
}

// What the relay said about the session that still holds (expiring,
// quota, closing with its grace counting down, closed), in a role=status
// line that is always in the page so its changes are announced.
export function SessionNotice({ t, session }) {
  const now = useTick();
  const lines = [];
  if (session) {
    if (session.state === 'closed') {
      lines.push(
        session.reason
          ? t('sys_closed', { reason: closeReason(t, session.reason) })
          : t('sys_closed_plain'),
      );
    } else if (session.state === 'closing') {
      lines.push(ticking(t, 'notice_closing', formatDuration(timeLeftMs(session.graceEndsAtMs, now))));
    } else {
      if (session.expiringNotice) {
        lines.push(ticking(t, 'sys_expiring', formatDuration(timeLeftMs(session.expiresAtMs, now))));
      }
      if (session.quotaRemaining !== null && session.quotaRemaining !== undefined) {
        lines.push(t('sys_quota', { n: session.quotaRemaining }));
      }
    }
  }
  return html`<div class=${lines.length ? 'notice' : 'notice empty'} role="status">
    ${lines.map((l, i) => html`<p key=${i}>${l}</p>`)}
  </div>`;
}
