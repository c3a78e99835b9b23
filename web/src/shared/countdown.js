// Time left until an instant, and how it reads on a countdown. No DOM here:
// the apps pass the clock in, so tests can move it.

// Milliseconds since the epoch for an RFC 3339 time, or NaN when it is not one.
export function parseTime(rfc3339) {
  if (typeof rfc3339 !== 'string' || rfc3339 === '') return NaN;
  return Date.parse(rfc3339);
}

// Milliseconds from `nowMs` until `untilMs`, never below 0; NaN stays NaN so
// a missing time is not shown as "0:00".
export function timeLeftMs(untilMs, nowMs) {
  if (!Number.isFinite(untilMs)) return NaN;
  return Math.max(0, untilMs - nowMs);
}

function pad2(n) {
  return n < 10 ? '0' + n : String(n);
}

// "m:ss" under an hour, "h:mm:ss" from an hour on. Whole seconds rounded up,
// so "0:00" is shown only once the time is really up.
export function formatDuration(ms) {
  if (!Number.isFinite(ms)) return '';
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}:${pad2(m)}:${pad2(s)}` : `${m}:${pad2(s)}`;
}

// The countdown of a session as its views show it: "closing" with the grace
// left while it closes, else the time left before it expires.
export function sessionCountdown(session, nowMs) {
  if (!session) return { kind: 'none', ms: NaN, text: '' };
  if (session.state === 'closed') return { kind: 'closed', ms: 0, text: '' };
  if (session.state === 'closing') {
    const ms = timeLeftMs(session.graceEndsAtMs, nowMs);
    return { kind: 'grace', ms, text: formatDuration(ms) };
  }
  const ms = timeLeftMs(session.expiresAtMs, nowMs);
  return { kind: ms === 0 ? 'expired' : 'left', ms, text: formatDuration(ms) };
}

// When a grace period of `graceSeconds` that starts now ends.
export function graceEndsAt(graceSeconds, nowMs) {
  const s = Number(graceSeconds);
  return nowMs + (Number.isFinite(s) && s > 0 ? s * 1000 : 0);
}
