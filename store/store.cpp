#include "store/store.hpp"

#include "crypto/aead.hpp"

#include <fmt/format.h>

namespace tirai::store {

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += ',';
    out += s;
  }
  return out;
}

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const auto comma = s.find(',');
    out.emplace_back(s.substr(0, comma));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

std::int64_t role_code(Role r) { return r == Role::talent ? 0 : 1; }
Role other(Role r) { return r == Role::talent ? Role::client : Role::talent; }

std::string number_ad(std::int64_t client_id) { return fmt::format("tirai/clients/number_ct/{}", client_id); }
std::string data_key_ad(std::string_view session) { return fmt::format("tirai/sessions/data_key/{}", session); }
std::string body_ad(std::string_view session, std::int64_t seq, Role sender) {
  return fmt::format("tirai/messages/body/{}/{}/{}", session, seq, role_code(sender));
}

constexpr std::string_view session_columns =
    "s.id, s.talent_id, t.alias, s.client_id, s.client_alias, s.package, s.channels, s.max_messages, "
    "s.state, s.close_reason, s.booked_at, s.expires_at, s.closing_until, s.closed_at, s.warned, "
    "s.message_count, s.token_hash FROM sessions s JOIN talents t ON t.id = s.talent_id";

}  // namespace

Store::Store(const std::filesystem::path& path, Synchronous sync, const crypto::Keyring& keys)
    : db_(path, sync), keys_(keys) {
  migrate(db_);
}

bool Store::add_talent(std::string_view alias, std::string_view secret_hash, UnixMs now) {
  auto& st = db_.cached(
      "INSERT INTO talents(alias, secret_hash, created_at) VALUES(?, ?, ?) ON CONFLICT(alias) DO NOTHING");
  st.bind(1, alias).bind(2, secret_hash).bind(3, now).run();
  return db_.changes() == 1;
}

std::vector<TalentRecord> Store::talents() {
  auto& st = db_.cached("SELECT id, alias, secret_hash, created_at FROM talents ORDER BY alias");
  std::vector<TalentRecord> out;
  while (st.step()) out.push_back({st.int64(0), st.text(1), st.text(2), st.int64(3)});
  return out;
}

std::optional<TalentRecord> Store::talent(std::string_view alias) {
  auto& st = db_.cached("SELECT id, alias, secret_hash, created_at FROM talents WHERE alias = ?");
  st.bind(1, alias);
  if (!st.step()) return std::nullopt;
  return TalentRecord{st.int64(0), st.text(1), st.text(2), st.int64(3)};
}

bool Store::remove_talent(std::int64_t talent_id) {
  db_.cached("DELETE FROM messages WHERE session_id IN (SELECT id FROM sessions WHERE talent_id = ?)")
      .bind(1, talent_id)
      .run();
  db_.cached("DELETE FROM sessions WHERE talent_id = ?").bind(1, talent_id).run();
  db_.cached("DELETE FROM talents WHERE id = ?").bind(1, talent_id).run();
  return db_.changes() == 1;
}

std::int64_t Store::client_for_number(std::string_view number, UnixMs now) {
  const auto index = keys_.blind_index(number);
  auto& find = db_.cached("SELECT id FROM clients WHERE blind_index = ?");
  find.bind(1, index);
  if (find.step()) return find.int64(0);
  // The row id is part of the associated data, so insert first and seal after.
  db_.cached("INSERT INTO clients(blind_index, number_ct, created_at) VALUES(?, x'', ?)")
      .bind(1, index)
      .bind(2, now)
      .run();
  const auto id = db_.last_insert_rowid();
  const auto sealed = crypto::seal(keys_.number_key(), number, number_ad(id));
  db_.cached("UPDATE clients SET number_ct = ? WHERE id = ?").bind(1, sealed).bind(2, id).run();
  return id;
}

std::optional<std::string> Store::client_number(std::int64_t client_id) {
  auto& st = db_.cached("SELECT number_ct FROM clients WHERE id = ?");
  st.bind(1, client_id);
  if (!st.step()) return std::nullopt;
  return crypto::open(keys_.number_key(), st.blob(0), number_ad(client_id));
}

void Store::insert_session(const SessionRecord& r) {
  const auto key = crypto::generate_key();
  const auto wrapped = crypto::seal(keys_.data_key_wrap(), key.bytes(), data_key_ad(r.id));
  db_.cached(
         "INSERT INTO sessions(id, talent_id, client_id, client_alias, package, channels, max_messages, "
         "state, booked_at, expires_at, token_hash, data_key) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)")
      .bind(1, r.id)
      .bind(2, r.talent_id)
      .bind(3, r.client_id)
      .bind(4, r.client_alias)
      .bind(5, r.package)
      .bind(6, join(r.channels))
      .bind(7, r.max_messages)
      .bind(8, proto::to_string(r.state))
      .bind(9, r.booked_at)
      .bind(10, r.expires_at)
      .bind(11, r.token_hash)
      .bind(12, wrapped)
      .run();
  data_keys_.insert_or_assign(r.id, key.clone());
  last_seq_[r.id] = 0;
}

SessionRecord Store::read_session(const Statement& st) {
  SessionRecord r;
  r.id = st.text(0);
  r.talent_id = st.int64(1);
  r.talent_alias = st.text(2);
  r.client_id = st.int64(3);
  r.client_alias = st.text(4);
  r.package = st.text(5);
  r.channels = split(st.text(6));
  r.max_messages = st.opt_int64(7);
  r.state = proto::session_state_from(st.text(8)).value_or(SessionState::closed);
  r.close_reason = st.text(9);
  r.booked_at = st.int64(10);
  r.expires_at = st.int64(11);
  r.closing_until = st.opt_int64(12);
  r.closed_at = st.opt_int64(13);
  r.warned = st.int64(14) != 0;
  r.message_count = st.int64(15);
  r.token_hash = st.blob(16);
  return r;
}

std::optional<SessionRecord> Store::session(std::string_view id) {
  static const std::string sql = fmt::format("SELECT {} WHERE s.id = ?", session_columns);
  auto& st = db_.cached(sql);
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_session(st);
}

std::vector<SessionRecord> Store::live_sessions() {
  static const std::string sql =
      fmt::format("SELECT {} WHERE s.state != 'closed' ORDER BY s.booked_at, s.id", session_columns);
  auto& st = db_.cached(sql);
  std::vector<SessionRecord> out;
  while (st.step()) out.push_back(read_session(st));
  return out;
}

std::vector<SessionRecord> Store::sessions(std::optional<SessionState> state) {
  static const std::string all = fmt::format("SELECT {} ORDER BY s.booked_at, s.id", session_columns);
  static const std::string by_state =
      fmt::format("SELECT {} WHERE s.state = ? ORDER BY s.booked_at, s.id", session_columns);
  auto& st = db_.cached(state ? by_state : all);
  if (state) st.bind(1, proto::to_string(*state));
  std::vector<SessionRecord> out;
  while (st.step()) out.push_back(read_session(st));
  return out;
}

bool Store::client_alias_in_use(std::int64_t talent_id, std::string_view alias) {
  auto& st = db_.cached(
      "SELECT 1 FROM sessions WHERE talent_id = ? AND client_alias = ? AND state != 'closed' LIMIT 1");
  st.bind(1, talent_id).bind(2, alias);
  return st.step();
}

void Store::set_closing(std::string_view id, std::string_view reason, UnixMs closing_until) {
  db_.cached("UPDATE sessions SET state = 'closing', close_reason = ?, closing_until = ? WHERE id = ?")
      .bind(1, reason)
      .bind(2, closing_until)
      .bind(3, id)
      .run();
}

void Store::mark_warned(std::string_view id) {
  db_.cached("UPDATE sessions SET warned = 1 WHERE id = ?").bind(1, id).run();
}

bool Store::teardown(std::string_view id, std::string_view reason, UnixMs closed_at) {
  db_.cached(
         "UPDATE sessions SET state = 'closed', close_reason = ?, closed_at = ?, closing_until = NULL, "
         "client_alias = NULL, token_hash = NULL, data_key = NULL WHERE id = ? AND state != 'closed'")
      .bind(1, reason)
      .bind(2, closed_at)
      .bind(3, id)
      .run();
  const bool changed = db_.changes() == 1;
  db_.cached("DELETE FROM messages WHERE session_id = ?").bind(1, id).run();
  const std::string key(id);
  data_keys_.erase(key);
  last_seq_.erase(key);
  return changed;
}

int Store::purge_closed(UnixMs before) {
  db_.cached("DELETE FROM sessions WHERE state = 'closed' AND closed_at < ?").bind(1, before).run();
  return db_.changes();
}

const crypto::Secret* Store::data_key(std::string_view session) {
  const std::string key(session);
  if (auto it = data_keys_.find(key); it != data_keys_.end()) return &it->second;
  auto& st = db_.cached("SELECT data_key FROM sessions WHERE id = ? AND data_key IS NOT NULL");
  st.bind(1, session);
  if (!st.step()) return nullptr;
  auto k = crypto::open_secret(keys_.data_key_wrap(), st.blob(0), data_key_ad(session));
  if (!k) throw DbError(fmt::format("data key of session {} does not open under this master key", session));
  return &data_keys_.emplace(key, std::move(*k)).first->second;
}

std::optional<AppendResult> Store::append(std::string_view session, Role sender, std::string_view send_id,
                                          std::string_view text, UnixMs now) {
  const auto* key = data_key(session);
  if (!key) return std::nullopt;
  const std::string sid(session);
  auto seq_it = last_seq_.find(sid);
  if (seq_it == last_seq_.end()) {
    auto& st = db_.cached("SELECT coalesce(max(seq), 0) FROM messages WHERE session_id = ?");
    st.bind(1, session);
    st.step();
    seq_it = last_seq_.emplace(sid, st.int64(0)).first;
  }
  const std::int64_t seq = seq_it->second + 1;
  const auto body = crypto::seal(*key, text, body_ad(session, seq, sender));
  db_.cached(
         "INSERT INTO messages(session_id, seq, sender, send_id, sent_at, body) VALUES(?,?,?,?,?,?) "
         "ON CONFLICT(session_id, sender, send_id) DO NOTHING")
      .bind(1, session)
      .bind(2, seq)
      .bind(3, role_code(sender))
      .bind(4, send_id)
      .bind(5, now)
      .bind(6, body)
      .run();
  if (db_.changes() == 0) {
    auto& st = db_.cached("SELECT seq, sent_at FROM messages WHERE session_id = ? AND sender = ? AND send_id = ?");
    st.bind(1, session).bind(2, role_code(sender)).bind(3, send_id);
    if (!st.step()) throw DbError("message insert ignored but no duplicate found");
    return AppendResult{st.int64(0), st.int64(1), true};
  }
  seq_it->second = seq;
  db_.cached(
         "UPDATE sessions SET message_count = message_count + 1, "
         "state = CASE state WHEN 'open' THEN 'active' ELSE state END WHERE id = ?")
      .bind(1, session)
      .run();
  return AppendResult{seq, now, false};
}

void Store::ack(std::string_view session, Role receiver, std::int64_t upto) {
  db_.cached(
         "UPDATE messages SET body = NULL WHERE session_id = ? AND sender = ? AND seq <= ? AND body IS NOT NULL")
      .bind(1, session)
      .bind(2, role_code(other(receiver)))
      .bind(3, upto)
      .run();
}

std::vector<StoredMessage> Store::pending(std::string_view session, Role receiver) {
  std::vector<StoredMessage> out;
  const auto* key = data_key(session);
  if (!key) return out;
  const Role sender = other(receiver);
  auto& st = db_.cached(
      "SELECT seq, sent_at, body FROM messages WHERE session_id = ? AND sender = ? AND body IS NOT NULL "
      "ORDER BY seq");
  st.bind(1, session).bind(2, role_code(sender));
  while (st.step()) {
    const auto seq = st.int64(0);
    auto text = crypto::open(*key, st.blob(2), body_ad(session, seq, sender));
    if (!text) throw DbError(fmt::format("message {} of session {} does not open", seq, session));
    out.push_back({std::string(session), seq, sender, std::move(*text), st.int64(1)});
  }
  return out;
}

void Store::drop_caches() {
  last_seq_.clear();
  data_keys_.clear();
}

}  // namespace tirai::store
