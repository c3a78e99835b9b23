import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseTime, timeLeftMs, sessionCountdown, graceEndsAt } from '../src/shared/countdown.js';

test('m:ss under an hour, h:mm:ss from an hour on', () => {
  assert.equal(formatDuration(0), '0:00');
  assert.equal(formatDuration(9000), '0:09');
  assert.equal(formatDuration(65000), '1:05');
  assert.equal(formatDuration(59 * 60000 + 59000), '59:59');
  assert.equal(formatDuration(3600000), '1:00:00');
  assert.equal(formatDuration(3600000 + 5 * 60000 + 7000), '1:05:07');
  assert.equal(formatDuration(25 * 3600000), '25:00:00');
});

test('seconds round up, so 0:00 means the time is really up', () => {
  assert.equal(formatDuration(1), '0:01');
  assert.equal(formatDuration(999), '0:01');
  assert.equal(formatDuration(59001), '1:00');
  assert.equal(formatDuration(-5000), '0:00');
  assert.equal(formatDuration(NaN), '');
});

test('time left from an RFC 3339 expiry and a clock', () => {
  const now = Date.parse('2025-01-01T10:00:00Z');
  const until = parseTime('2025-01-01T10:30:00Z');
  assert.equal(timeLeftMs(until, now), 30 * 60000);
  assert.equal(formatDuration(timeLeftMs(until, now)), '30:00');
  assert.equal(formatDuration(timeLeftMs(until, now + 61000)), '28:59');
  assert.equal(timeLeftMs(until, now + 3600000), 0);
  assert.ok(Number.isNaN(parseTime('soon')));
  assert.ok(Number.isNaN(timeLeftMs(parseTime(undefined), now)));
});

test('a session counts down its time, then its grace while closing', () => {
  const now = Date.parse('2025-01-01T10:00:00Z');
  const s = { state: 'active', expiresAtMs: now + 90 * 60000, graceEndsAtMs: NaN };
  assert.deepEqual(sessionCountdown(s, now), { kind: 'left', ms: 5400000, text: '1:30:00' });
  assert.equal(sessionCountdown(s, now + 5400000).kind, 'expired');
  s.state = 'closing';
  s.graceEndsAtMs = graceEndsAt(60, now);
  assert.deepEqual(sessionCountdown(s, now + 15000), { kind: 'grace', ms: 45000, text: '0:45' });
  assert.equal(sessionCountdown(s, now + 70000).text, '0:00');
  s.state = 'closed';
  assert.equal(sessionCountdown(s, now).kind, 'closed');
});

test('a grace of 0 or nonsense ends now', () => {
  const now = 1000;
  assert.equal(graceEndsAt(0, now), now);
  assert.equal(graceEndsAt(undefined, now), now);
  assert.equal(graceEndsAt('30', now), now + 30000);
});
