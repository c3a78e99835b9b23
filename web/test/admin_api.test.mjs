import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAdminApi, apiReason, liveSessions, packageLabel, suggestSecret, ApiError } from '../src/shared/admin_api.js';
import { translator } from '../src/shared/i18n.js';
import * as OPERATOR from '../src/shared/strings_operator.js';

function fakeFetch(answers) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, init, body: init.body === undefined ? undefined : JSON.parse(init.body) });
    const a = answers.shift() || { status: 200, body: {} };
    return {
      status: a.status,
      text: async () => (a.body === undefined ? '' : typeof a.body === 'string' ? a.body : JSON.stringify(a.body)),
    };
  };
  return { fetch, calls };
}

test('every call carries the bearer token; a number travels only in the body', async () => {
  const { fetch, calls } = fakeFetch([{ status: 201, body: { session: 's_x', client_alias: 'guest-1', client_token: 't' } }]);
  const api = createAdminApi({ fetch, token: () => 'tok123' });
  const res = await api.book('natasha', '+6281234567890', 'chat-30m', true);
  assert.equal(res.session, 's_x');
  assert.equal(calls[0].url, '/v1/sessions');
  assert.equal(calls[0].init.method, 'POST');
  assert.equal(calls[0].init.headers.Authorization, 'Bearer tok123');
  assert.equal(calls[0].init.credentials, 'omit');
  assert.deepEqual(calls[0].body, {
    talent: 'natasha',
    client: '+6281234567890',
    package: 'chat-30m',
    sms: true,
  });
  assert.ok(!calls[0].url.includes('628'));
});

test('send_link is asked for only when the operator ticked it', async () => {
  const { fetch, calls } = fakeFetch([
    { status: 201, body: { session: 's_x', link_sent: true } },
    { status: 201, body: { session: 's_y' } },
  ]);
  const api = createAdminApi({ fetch, token: () => 'tok123' });
  assert.equal((await api.book('natasha', '+6281234567890', 'chat-30m', true, true)).link_sent, true);
  assert.equal(calls[0].body.send_link, true);
  await api.book('natasha', '+6281234567890', 'chat-30m', true);
  assert.ok(!('send_link' in calls[1].body));
});

test('the offer: the packages, and proxy numbers only when the relay says so', async () => {
  const { fetch } = fakeFetch([
    { status: 200, body: { packages: [{ name: 'chat-30m' }, 'junk'], sms: true } },
    { status: 200, body: { packages: [] } },
  ]);
  const api = createAdminApi({ fetch, token: () => 't' });
  assert.deepEqual(await api.offer(), { packages: [{ name: 'chat-30m' }], sms: true });
  assert.deepEqual(await api.offer(), { packages: [], sms: false });
});

test('client tools post the number in the body', async () => {
  const { fetch, calls } = fakeFetch([{ status: 200 }, { status: 200 }, { status: 200 }, { status: 200 }]);
  const api = createAdminApi({ fetch, token: () => 't' });
  await api.verifyClient('+628111', 'id_selfie');
  await api.restrictClient('+628111', false);
  await api.eraseClient('+628111');
  await api.lookupClient('+628111');
  assert.deepEqual(
    calls.map((c) => [c.url, c.body]),
    [
      ['/v1/clients/verify', { client: '+628111', method: 'id_selfie' }],
      ['/v1/clients/restrict', { client: '+628111', restricted: false }],
      ['/v1/clients/erase', { client: '+628111' }],
      ['/v1/clients/lookup', { client: '+628111' }],
    ],
  );
});

test('errors come back as ApiError with the relay\'s code; 401 also signs out', async () => {
  let signedOut = 0;
  const { fetch } = fakeFetch([
    { status: 409, body: { error: 'alias_taken', message: 'taken' } },
    { status: 401, body: { error: 'unauthorized', message: 'bad token' } },
    { status: 502, body: '<html>bad gateway</html>' },
  ]);
  const api = createAdminApi({ fetch, token: () => 't', onUnauthorized: () => signedOut++ });
  await assert.rejects(api.addTalent('natasha', 's'), (e) => e instanceof ApiError && e.status === 409 && e.code === 'alias_taken');
  await assert.rejects(api.talents(), (e) => e.status === 401);
  assert.equal(signedOut, 1);
  await assert.rejects(api.sessions(), (e) => e.code === 'http_502');
});

test('a network failure is ApiError status 0, code network', async () => {
  const api = createAdminApi({
    fetch: async () => {
      throw new TypeError('Failed to fetch');
    },
    token: () => 't',
  });
  await assert.rejects(api.talents(), (e) => e.status === 0 && e.code === 'network');
});

test('lists are read defensively; 204 has no body; aliases are escaped in paths', async () => {
  const { fetch, calls } = fakeFetch([
    { status: 200, body: { talents: [{ alias: 'a' }, null, 3] } },
    { status: 200, body: { nope: 1 } },
    { status: 204 },
  ]);
  const api = createAdminApi({ fetch, token: () => 't' });
  assert.deepEqual(await api.talents(), [{ alias: 'a' }]);
  assert.deepEqual(await api.packages(), []);
  assert.equal(await api.removeTalent('a/b'), null);
  assert.equal(calls[2].url, '/v1/talents/a%2Fb');
  assert.equal(calls[2].init.method, 'DELETE');
});

test('reasons in the page\'s language', () => {
  const en = translator('en', OPERATOR);
  assert.equal(apiReason(en, new ApiError(409, 'alias_taken', 'x')), 'that alias is taken');
  assert.equal(apiReason(translator('id', OPERATOR), new ApiError(0, 'network', '')), 'relay tidak bisa dihubungi');
  assert.equal(apiReason(en, new ApiError(400, 'brand_new', 'the relay says so')), 'the relay says so');
});

test('live sessions leave out closed ones, soonest to end first', () => {
  const out = liveSessions([
    { session: 'a', state: 'active', expires_at: '2025-01-01T10:30:00Z' },
    { session: 'b', state: 'closed', expires_at: '2025-01-01T10:00:00Z' },
    { session: 'c', state: 'open', expires_at: '2025-01-01T10:10:00Z' },
  ]);
  assert.deepEqual(out.map((s) => s.session), ['c', 'a']);
});

test('package labels and suggested secrets', () => {
  assert.equal(packageLabel({ name: 'chat-30m', duration: '30m', channels: ['chat'] }), 'chat-30m (30m, chat)');
  assert.equal(packageLabel({ name: 'x' }), 'x');
  const s = suggestSecret();
  assert.match(s, /^[a-z2-9]{5}(-[a-z2-9]{5}){3}$/);
  assert.notEqual(s, suggestSecret());
});
