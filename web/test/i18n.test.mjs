import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  STRINGS,
  pickLanguage,
  translator,
  errorReason,
  closeReason,
  formatClock,
  formatDateTime,
} from '../src/shared/i18n.js';
import * as TALENT from '../src/shared/strings_talent.js';
import * as CLIENT from '../src/shared/strings_client.js';
import * as OPERATOR from '../src/shared/strings_operator.js';

const TABLES = { shared: STRINGS, talent: TALENT, client: CLIENT, operator: OPERATOR };
const ALL = {
  en: Object.assign({}, STRINGS.en, TALENT.en, CLIENT.en, OPERATOR.en),
  id: Object.assign({}, STRINGS.id, TALENT.id, CLIENT.id, OPERATOR.id),
};

const params = (q) => new URLSearchParams(q);

test('English and Indonesian have exactly the same keys in every table, none empty', () => {
  for (const [name, table] of Object.entries(TABLES)) {
    const en = Object.keys(table.en).sort();
    const id = Object.keys(table.id).sort();
    assert.deepEqual(id, en, name);
    assert.ok(en.length > 0, name);
    for (const lang of ['en', 'id']) {
      for (const [k, v] of Object.entries(table[lang])) assert.ok(typeof v === 'string' && v.trim() !== '', `${name}.${lang}.${k}`);
    }
  }
});

test('an app\'s own strings do not shadow the shared ones or another app\'s', () => {
  const seen = new Map();
  for (const [name, table] of Object.entries(TABLES)) {
    for (const k of Object.keys(table.en)) {
      assert.ok(!seen.has(k), `${k} is in both ${seen.get(k)} and ${name}`);
      seen.set(k, name);
    }
  }
});

test('both languages use the same {placeholders} in each string', () => {
  const names = (s) => (s.match(/\{\w+\}/g) || []).sort().join(',');
  for (const k of Object.keys(ALL.en)) assert.equal(names(ALL.id[k]), names(ALL.en[k]), k);
});

test('the English names of controls are the ones the browser tests use', () => {
  const t = translator('en', ALL);
  assert.equal(t('alias'), 'Alias');
  assert.equal(t('secret'), 'Secret');
  assert.equal(t('log_in'), 'Log in');
  assert.equal(t('message'), 'Message');
  assert.equal(t('send'), 'Send');
  assert.equal(t('conversation'), 'Conversation');
  assert.equal(t('end_session'), 'End session');
  assert.equal(t('rate_n', { n: 3 }), 'Rate 3');
  assert.equal(t('log_out'), 'Log out');
  assert.equal(t('delete_account'), 'Delete my account');
  assert.equal(t('delete_confirm'), 'Delete my account permanently');
  assert.equal(t('login_failed'), 'Alias or secret is wrong');
  assert.equal(t('ended_or_invalid'), 'This session has ended or the link is not valid');
  assert.equal(t('farewell_default'), 'Our session has ended, thank you');
  assert.equal(translator('id', TALENT)('farewell_default'), 'Sesi kita sudah selesai, terima kasih ya');
  assert.equal(translator('en', TALENT)('farewell_default'), 'Our session has ended, thank you');
  assert.equal(t('admin_token'), 'Admin token');
  assert.equal(t('enrol_talent'), 'Enrol talent');
  assert.equal(t('book_session'), 'Book session');
  assert.equal(t('client_number'), 'Client number');
  assert.equal(t('text_link'), 'Text the link by SMS');
  assert.equal(t('erase_client'), 'Erase client');
});

test('?lang= wins over the browser languages', () => {
  assert.equal(pickLanguage(['en-US'], params('lang=id')), 'id');
  assert.equal(pickLanguage(['id-ID', 'id'], params('lang=en')), 'en');
  assert.equal(pickLanguage(['id-ID'], params('lang=ID')), 'id');
});

test('an unknown ?lang= falls back to the browser languages', () => {
  assert.equal(pickLanguage(['id-ID'], params('lang=fr')), 'id');
  assert.equal(pickLanguage(['fr-FR'], params('lang=xx')), 'en');
});

test('the first browser language starting with id gives Indonesian, else English', () => {
  assert.equal(pickLanguage(['id'], params('')), 'id');
  assert.equal(pickLanguage(['en-GB', 'id-ID'], params('')), 'id');
  assert.equal(pickLanguage(['in-ID'], params('')), 'id');
  assert.equal(pickLanguage(['en-US', 'fr'], params('')), 'en');
  assert.equal(pickLanguage(['ida'], params('')), 'en', 'another language whose code only starts with "id"');
  assert.equal(pickLanguage([], params('')), 'en');
  assert.equal(pickLanguage(undefined, undefined), 'en');
});

test('translation fills placeholders and falls back to English, then the key', () => {
  const t = translator('id');
  assert.equal(t('time_left', { time: '4:59' }), 'sisa 4:59');
  assert.equal(translator('en')('time_left', { time: '4:59' }), '4:59 left');
  assert.equal(translator('xx')('send'), 'Send');
  assert.equal(t('no_such_key'), 'no_such_key');
  // an app's own strings come in over the shared ones
  assert.equal(translator('id', CLIENT)('end_confirm'), 'Ya, akhiri');
  assert.equal(translator('id')('end_confirm'), 'end_confirm', 'not in the shared table');
});

test('error codes and close reasons read as people would say them', () => {
  const en = translator('en');
  assert.equal(errorReason(en, 'contact_details_blocked'), 'contact details are not allowed');
  assert.equal(errorReason(en, 'something_new'), 'refused (something_new)');
  assert.equal(closeReason(en, 'expired'), 'the time is up');
  assert.equal(closeReason(translator('id'), 'ended_by_client'), 'diakhiri oleh klien');
  assert.equal(closeReason(en, null), '');
});

test('times use Intl in the given (else the browser\'s) time zone', () => {
  const ms = Date.parse('2025-01-01T10:05:00Z');
  assert.equal(formatClock(ms, 'en', 'UTC'), '10:05');
  assert.equal(formatClock(ms, 'en', 'Asia/Jakarta'), '17:05');
  assert.match(formatClock(ms, 'id', 'Asia/Jakarta'), /^17[.:]05$/);
  assert.match(formatDateTime(ms, 'en', 'Asia/Jakarta'), /1 Jan.*17:05/);
  assert.equal(formatClock(NaN, 'en'), '');
});
