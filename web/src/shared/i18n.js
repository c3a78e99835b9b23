// English and Indonesian strings shared by the three apps (each app's own
// are in strings_<app>.js, so a page downloads only its own), the choice of
// language, and dates and times in the browser's own time zone. No DOM here.
//
// The English names of controls are a contract with the browser tests
// (they find controls by role and name): change them only together.

export const LANGUAGES = ['en', 'id'];

const en = {
  // common
  app_name: 'tirai',
  language: 'Language',
  lang_en_title: 'English',
  lang_id_title: 'Bahasa Indonesia',
  status_connecting: 'Connecting…',
  status_online: 'Online',
  status_offline: 'Offline',
  status_offline_retry: 'No connection. Trying again in {time}.',
  status_offline_now: 'No connection. Trying again…',
  retry_now: 'Try now',
  message: 'Message',
  message_placeholder: 'Write a message',
  send: 'Send',
  conversation: 'Conversation',
  end_session: 'End session',
  cancel: 'Cancel',
  dismiss: 'Dismiss',
  you: 'You',
  msg_sending: 'sending',
  msg_retrying: 'waiting to send again',
  msg_sent: 'sent',
  msg_failed: 'not sent: {reason}',
  msg_redacted: 'contact details hidden',
  time_left: '{time} left',
  time_up: 'time is up',
  closing_in: 'closing in {time}',
  state_open: 'open',
  state_active: 'active',
  state_closing: 'closing',
  state_closed: 'closed',
  channel_chat: 'chat',
  channel_voice: 'voice',
  // why a message or a request was refused
  err_bad_request: 'the relay could not read it',
  err_too_large: 'it is too long',
  err_unknown_type: 'this relay does not support it yet',
  err_auth_failed: 'the secret is wrong',
  err_not_in_session: 'not part of this session',
  err_session_closed: 'the session has ended',
  err_not_allowed: 'not allowed in this package',
  err_quota_exhausted: 'the message limit of this package is used up',
  err_rate_limited: 'too many messages at once, please wait',
  err_contact_details_blocked: 'contact details are not allowed',
  err_busy: 'a call is already going on',
  err_internal: 'the relay had a problem, try again',
  err_connection_lost: 'the connection was lost before the relay answered',
  err_other: 'refused ({code})',
  error_notice: 'The relay refused that: {reason}.',
  // calls
  call: 'Call',
  answer: 'Answer',
  decline: 'Decline',
  hang_up: 'Hang up',
  mute: 'Mute',
  call_calling: 'Calling {alias}…',
  call_incoming: '{alias} is calling',
  call_connecting: 'Connecting the call…',
  call_active: 'On a call with {alias}',
  call_time: 'Call {time}',
  call_minute_left: 'Less than a minute of call time left.',
  call_session_left: 'Session: {time} left',
  mic_denied: 'This browser may not use the microphone. Allow it (the icon beside the address), then try again.',
  mic_missing: 'No microphone was found on this device.',
  mic_failed: 'The microphone could not be started.',
  call_refused: 'The call could not start: {reason}.',
  call_end_hangup: 'The call ended.',
  call_end_declined: 'The call was declined.',
  call_end_no_answer: 'No answer.',
  call_end_session_closed: 'The call ended with the session.',
  call_end_time_limit: "The package's call time is used up.",
  call_end_failed: 'The call could not connect.',
  call_end_peer_gone: 'The other side left the call.',
  call_end_connection_lost: 'The call was cut: the connection to the relay was lost.',
  call_end_talked: '{what} ({time})',
  calls_off: 'Calls are not set up on this relay yet.',
  call_phone: 'phone',
  call_by_phone: 'Call by phone',
  phone_line_connecting: 'Connecting the phone line…',
  phone_line_failed: 'The phone line cannot connect; it keeps trying.',
  err_phone_unavailable: 'the client cannot be reached by phone now',
  // why a session ended
  reason_ended_by_talent: 'ended by the talent',
  reason_ended_by_client: 'ended by the client',
  reason_ended_by_operator: 'ended by the operator',
  reason_expired: 'the time is up',
  reason_quota_exhausted: 'the message limit is reached',
  reason_talent_removed: 'the talent account was removed',
  reason_client_erased: 'the client was removed',
  // relay notices, in the conversation and in the status line
  sys_expiring: 'About {time} left in this session.',
  sys_quota: '{n} messages left in this package.',
  sys_closing: 'The session is ending ({reason}). You can still write a last message.',
  sys_closing_plain: 'The session is ending. You can still write a last message.',
  sys_closed: 'The session has ended ({reason}).',
  sys_closed_plain: 'The session has ended.',
  sys_rated: 'You rated the client {score} of 5.',
  notice_closing: 'The session is ending. The line closes in {time}.',
  alias: 'Alias',
  secret: 'Secret',
  verified: 'verified',
  not_verified: 'not verified',
  rating: 'rating {avg} from {n}',
  no_rating: 'no ratings yet',
};

const id = {
  app_name: 'tirai',
  language: 'Bahasa',
  lang_en_title: 'English',
  lang_id_title: 'Bahasa Indonesia',
  status_connecting: 'Menghubungkan…',
  status_online: 'Daring',
  status_offline: 'Luring',
  status_offline_retry: 'Tidak ada koneksi. Mencoba lagi dalam {time}.',
  status_offline_now: 'Tidak ada koneksi. Mencoba lagi…',
  retry_now: 'Coba sekarang',
  message: 'Pesan',
  message_placeholder: 'Tulis pesan',
  send: 'Kirim',
  conversation: 'Percakapan',
  end_session: 'Akhiri sesi',
  cancel: 'Batal',
  dismiss: 'Tutup',
  you: 'Anda',
  msg_sending: 'mengirim',
  msg_retrying: 'menunggu untuk dikirim ulang',
  msg_sent: 'terkirim',
  msg_failed: 'tidak terkirim: {reason}',
  msg_redacted: 'detail kontak disembunyikan',
  time_left: 'sisa {time}',
  time_up: 'waktu habis',
  closing_in: 'ditutup dalam {time}',
  state_open: 'dibuka',
  state_active: 'aktif',
  state_closing: 'sedang ditutup',
  state_closed: 'ditutup',
  channel_chat: 'obrolan',
  channel_voice: 'suara',
  err_bad_request: 'relay tidak bisa membacanya',
  err_too_large: 'terlalu panjang',
  err_unknown_type: 'relay ini belum mendukungnya',
  err_auth_failed: 'kata sandi salah',
  err_not_in_session: 'bukan bagian dari sesi ini',
  err_session_closed: 'sesi sudah berakhir',
  err_not_allowed: 'tidak diizinkan dalam paket ini',
  err_quota_exhausted: 'batas pesan paket ini sudah habis',
  err_rate_limited: 'terlalu banyak pesan sekaligus, mohon tunggu',
  err_contact_details_blocked: 'detail kontak tidak diizinkan',
  err_busy: 'sedang ada panggilan',
  err_internal: 'relay mengalami masalah, coba lagi',
  err_connection_lost: 'koneksi terputus sebelum relay menjawab',
  err_other: 'ditolak ({code})',
  error_notice: 'Relay menolaknya: {reason}.',
  // panggilan
  call: 'Telepon',
  answer: 'Jawab',
  decline: 'Tolak',
  hang_up: 'Tutup telepon',
  mute: 'Bisukan',
  call_calling: 'Menelepon {alias}…',
  call_incoming: '{alias} menelepon',
  call_connecting: 'Menyambungkan panggilan…',
  call_active: 'Sedang menelepon {alias}',
  call_time: 'Panggilan {time}',
  call_minute_left: 'Waktu telepon tinggal kurang dari satu menit.',
  call_session_left: 'Sesi: sisa {time}',
  mic_denied: 'Peramban ini tidak boleh memakai mikrofon. Izinkan (ikon di samping alamat), lalu coba lagi.',
  mic_missing: 'Tidak ada mikrofon di perangkat ini.',
  mic_failed: 'Mikrofon tidak bisa dinyalakan.',
  call_refused: 'Panggilan tidak bisa dimulai: {reason}.',
  call_end_hangup: 'Panggilan selesai.',
  call_end_declined: 'Panggilan ditolak.',
  call_end_no_answer: 'Tidak dijawab.',
  call_end_session_closed: 'Panggilan berakhir bersama sesi.',
  call_end_time_limit: 'Waktu telepon paket ini sudah habis.',
  call_end_failed: 'Panggilan tidak bisa tersambung.',
  call_end_peer_gone: 'Pihak lain keluar dari panggilan.',
  call_end_connection_lost: 'Panggilan terputus: koneksi ke relay hilang.',
  call_end_talked: '{what} ({time})',
  calls_off: 'Telepon belum disiapkan di relay ini.',
  call_phone: 'telepon',
  call_by_phone: 'Telepon ke nomornya',
  phone_line_connecting: 'Menyambungkan saluran telepon…',
  phone_line_failed: 'Saluran telepon tidak bisa tersambung; terus dicoba.',
  err_phone_unavailable: 'klien tidak bisa dihubungi lewat telepon sekarang',
  reason_ended_by_talent: 'diakhiri oleh talent',
  reason_ended_by_client: 'diakhiri oleh klien',
  reason_ended_by_operator: 'diakhiri oleh operator',
  reason_expired: 'waktunya habis',
  reason_quota_exhausted: 'batas pesan tercapai',
  reason_talent_removed: 'akun talent dihapus',
  reason_client_erased: 'klien dihapus',
  sys_expiring: 'Sisa sekitar {time} dalam sesi ini.',
  sys_quota: 'Sisa {n} pesan dalam paket ini.',
  sys_closing: 'Sesi sedang diakhiri ({reason}). Anda masih bisa menulis pesan terakhir.',
  sys_closing_plain: 'Sesi sedang diakhiri. Anda masih bisa menulis pesan terakhir.',
  sys_closed: 'Sesi sudah berakhir ({reason}).',
  sys_closed_plain: 'Sesi sudah berakhir.',
  sys_rated: 'Anda memberi klien nilai {score} dari 5.',
  notice_closing: 'Sesi sedang diakhiri. Saluran ditutup dalam {time}.',
  alias: 'Alias',
  secret: 'Kata sandi',
  verified: 'terverifikasi',
  not_verified: 'belum terverifikasi',
  rating: 'nilai {avg} dari {n}',
  no_rating: 'belum ada penilaian',
};

export const STRINGS = { en, id };

// ?lang=en|id wins; else the first browser language that starts with "id"
// (Indonesian; "in" is its old code) gives Indonesian; else English.
export function pickLanguage(navigatorLanguages, searchParams) {
  const asked = searchParams && typeof searchParams.get === 'function' ? searchParams.get('lang') : null;
  if (asked) {
    const a = asked.toLowerCase();
    if (LANGUAGES.includes(a)) return a;
  }
  const list = Array.isArray(navigatorLanguages) ? navigatorLanguages : [];
  for (const l of list) {
    if (typeof l !== 'string') continue;
    const tag = l.toLowerCase();
    if (tag === 'id' || tag.startsWith('id-') || tag === 'in' || tag.startsWith('in-')) return 'id';
  }
  return 'en';
}

// A translate function for `lang`, over the shared strings and the app's
// own (`extra`): t('key', {name: value}) fills {name}.
// A missing key falls back to English, then to the key itself.
export function translator(lang, extra) {
  const code = STRINGS[lang] ? lang : 'en';
  // the shared strings, and the app's own (`extra`: {en, id}) over them
  const table = extra ? Object.assign({}, STRINGS[code], extra[code]) : STRINGS[code];
  const english = extra ? Object.assign({}, en, extra.en) : en;
  return function t(key, params) {
    let s = table[key];
    if (s === undefined) s = english[key];
    if (s === undefined) return key;
    if (params) s = s.replace(/\{(\w+)\}/g, (all, name) => (params[name] === undefined ? all : String(params[name])));
    return s;
  };
}

// The human reason for a protocol error code.
export function errorReason(t, code) {
  const key = 'err_' + code;
  return t(key) === key ? t('err_other', { code }) : t(key);
}

// The human reason a session closed ('' when unknown).
export function closeReason(t, reason) {
  if (!reason) return '';
  const key = 'reason_' + reason;
  const s = t(key);
  return s === key ? reason : s;
}

function locale(lang) {
  return lang === 'id' ? 'id-ID' : 'en-GB';
}

// Times in the browser's own time zone (Intl's default), e.g. "14:05".
export function formatClock(ms, lang, timeZone) {
  if (!Number.isFinite(ms)) return '';
  const opts = { hour: '2-digit', minute: '2-digit' };
  if (timeZone) opts.timeZone = timeZone;
  return new Intl.DateTimeFormat(locale(lang), opts).format(new Date(ms));
}

// Date and time, e.g. "2 Dec, 14:05".
export function formatDateTime(ms, lang, timeZone) {
  if (!Number.isFinite(ms)) return '';
  const opts = { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' };
  if (timeZone) opts.timeZone = timeZone;
  return new Intl.DateTimeFormat(locale(lang), opts).format(new Date(ms));
}
