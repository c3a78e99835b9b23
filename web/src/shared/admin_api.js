// The operator page's client of the admin HTTP API (design §6): same
// origin, JSON, the bearer token on every call. No DOM here: fetch is passed
// in. Real numbers go only in request bodies, never in a URL.

export class ApiError extends Error {
  // status 0 means the request never got an answer (network).
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

// opts: fetch, token() → the bearer token, onUnauthorized() called on a 401.
export function createAdminApi(opts) {
  const doFetch = opts.fetch;

  async function call(method, path, body) {
    const headers = { Authorization: 'Bearer ' + opts.token(), Accept: 'application/json' };
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await doFetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'network', String((e && e.message) || e));
    }
    let data = null;
    if (res.status !== 204) {
      const text = await res.text();
      if (text) {
        try {
          data = JSON.parse(text);
        } catch {
          data = null;
        }
      }
    }
    if (res.status === 401) {
      if (opts.onUnauthorized) opts.onUnauthorized();
      throw new ApiError(401, 'unauthorized', (data && data.message) || '');
    }
    if (res.status < 200 || res.status > 299) {
      const code = data && typeof data.error === 'string' ? data.error : 'http_' + res.status;
      const message = data && typeof data.message === 'string' ? data.message : '';
      throw new ApiError(res.status, code, message);
    }
    return data;
  }

  const list = (data, key) => (data && Array.isArray(data[key]) ? data[key].filter((x) => x && typeof x === 'object') : []);
  const seg = (s) => encodeURIComponent(s);

  return {
    call,
    talents: async () => list(await call('GET', '/v1/talents'), 'talents'),
    addTalent: (alias, secret) => call('POST', '/v1/talents', { alias, secret }),
    removeTalent: (alias) => call('DELETE', '/v1/talents/' + seg(alias)),
    packages: async () => list(await call('GET', '/v1/packages'), 'packages'),
    // The packages, and whether the relay gives proxy numbers ([sms] enabled).
    offer: async () => {
      const data = await call('GET', '/v1/packages');
      return { packages: list(data, 'packages'), sms: !!(data && data.sms === true) };
    },
    sessions: async () => list(await call('GET', '/v1/sessions'), 'sessions'),
    // sendLink: the relay texts the session link from the client's proxy number.
    book: (talent, client, pkg, sms, sendLink = false) =>
      call('POST', '/v1/sessions', { talent, client, package: pkg, sms, ...(sendLink ? { send_link: true } : {}) }),
    endSession: (id) => call('POST', '/v1/sessions/' + seg(id) + '/end'),
    lookupClient: (client) => call('POST', '/v1/clients/lookup', { client }),
    verifyClient: (client, method) => call('POST', '/v1/clients/verify', { client, method }),
    restrictClient: (client, restricted) => call('POST', '/v1/clients/restrict', { client, restricted }),
    eraseClient: (client) => call('POST', '/v1/clients/erase', { client }),
  };
}

// The human reason for an ApiError, in the page's language.
export function apiReason(t, err) {
  if (!err) return '';
  if (err.code === 'network') return t('api_network');
  const key = 'api_' + err.code;
  const s = t(key);
  if (s !== key) return s;
  return err.message || err.code;
}

// Live sessions first to end, closed ones left out.
export function liveSessions(sessions) {
  return sessions
    .filter((s) => s.state !== 'closed')
    .slice()
    .sort((a, b) => (Date.parse(a.expires_at) || 0) - (Date.parse(b.expires_at) || 0));
}

// A package's label in a list: "chat-30m (30m, chat)".
export function packageLabel(p) {
  const bits = [];
  if (p.duration !== undefined && p.duration !== null) bits.push(String(p.duration));
  if (Array.isArray(p.channels) && p.channels.length) bits.push(p.channels.join(' + '));
  return bits.length ? `${p.name} (${bits.join(', ')})` : String(p.name);
}

// A strong random secret the operator can hand over: 4 groups of 5
// characters from an alphabet without look-alikes.
export function suggestSecret(cryptoObj = globalThis.crypto) {
  const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789';
  const limit = 256 - (256 % alphabet.length); // no modulo bias
  let out = '';
  let n = 0;
  while (n < 20) {
    const bytes = new Uint8Array(32);
    cryptoObj.getRandomValues(bytes);
    for (const b of bytes) {
      if (b >= limit || n >= 20) continue;
      if (n && n % 5 === 0) out += '-';
      out += alphabet[b % alphabet.length];
      n += 1;
    }
  }
  return out;
}
