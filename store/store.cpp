// One class's SQL, table by table (keys, talents, clients and ratings,
// sessions, the proxy pool and SMS outbox, messages).
// Over 500 lines because every statement the relay runs is here and nowhere
// else; the split by table, if it comes, keeps Statement and Transaction.
#include "store/store.hpp"

#include "crypto/aead.hpp"

#include <fmt/format.h>

#include <algorithm>

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
std::string person_key_ad(std::int64_t client_id) { return fmt::format("tirai/clients/person_key/{}", client_id); }
std::string notice_ad(std::int64_t client_id) { return fmt::format("tirai/sms_outbox/text_ct/{}", client_id); }
constexpr std::string_view key_check_ad = "tirai/meta/key_check";
constexpr std::string_view key_check_text = "tirai master key check v1";
constexpr std::string_view alias_key_ad = "tirai/meta/alias_key";
std::string data_key_ad(std::string_view session) { return fmt::format("tirai/sessions/data_key/{}", session); }
// A message body's associated data, built on the stack: there is one per
// message stored or replayed.
class BodyAd {
 public:
  BodyAd(std::string_view session, std::int64_t seq, Role sender) {
    fmt::format_to(std::back_inserter(buf_), "tirai/messages/body/{}/{}/{}", session, seq, role_code(sender));
  }
  operator std::string_view() const { return {buf_.data(), buf_.size()}; }

 private:
  fmt::basic_memory_buffer<char, 128> buf_;
};

// A message's entry in Store::Positions::slots: its row id, whether it is
// acknowledged (its body cleared, or in Store::to_clear_ to be), and its
// sender's role code; 0 for a seq without a row.
constexpr std::int64_t slot_cleared = 2;
std::int64_t make_slot(std::int64_t rowid, bool cleared, std::int64_t sender) {
  return rowid << 2 | (cleared ? slot_cleared : 0) | sender;
}
std::int64_t slot_row(std::int64_t slot) { return slot >> 2; }
// A message from `sender` whose body is still queued.
bool queued_from(std::int64_t slot, std::int64_t sender) {
  return slot != 0 && (slot & 1) == sender && (slot & slot_cleared) == 0;
}

constexpr std::string_view session_columns =
    "s.id, s.talent_id, t.alias, s.client_id, s.client_alias, s.package, s.channels, s.max_messages, "
    "s.state, s.close_reason, s.booked_at, s.expires_at, s.closing_until, s.closed_at, s.warned, "
    // A live session's count is its last seq, read from the store's message
    // positions; teardown writes it into the minimal record.
    "s.message_count, "
    "s.token_hash, s.idle_timeout, s.proxy_number, s.call_minutes, s.first_contact, s.client_contacted, "
    "s.call_seconds FROM sessions s JOIN talents t ON t.id = s.talent_id";

}  // namespace

Store::Store(const std::filesystem::path& path, Synchronous sync, const crypto::Keyring& keys)
    : db_(path, sync), keys_(keys) {
  migrate(db_);
  check_or_write_key_check();
  alias_key_ = load_or_create_alias_key();
}

void Store::check_or_write_key_check() {
  auto& st = db_.cached("SELECT value FROM meta WHERE name = 'key_check'");
  if (st.step()) {
    if (crypto::open(keys_.key_check(), st.blob(0), key_check_ad) != key_check_text)
      throw DbError("the master key does not open this database (wrong keys.master_key_file?)");
    return;
  }
  db_.cached("INSERT INTO meta(name, value) VALUES('key_check', ?)")
      .bind(1, crypto::seal(keys_.key_check(), key_check_text, key_check_ad))
      .run();
}

crypto::Secret Store::load_or_create_alias_key() {
  auto& st = db_.cached("SELECT value FROM meta WHERE name = 'alias_key'");
  if (st.step()) {
    auto k = crypto::open_secret(keys_.data_key_wrap(), st.blob(0), alias_key_ad);
    if (!k) throw DbError("the alias key does not open under this master key");
    return std::move(*k);
  }
  auto k = crypto::generate_key();
  db_.cached("INSERT INTO meta(name, value) VALUES('alias_key', ?)")
      .bind(1, crypto::seal(keys_.data_key_wrap(), k.bytes(), alias_key_ad))
      .run();
  return k;
}

Bytes Store::alias_hash(std::string_view alias) const { return crypto::keyed_hash(alias_key_, alias); }

crypto::Secret Store::person_key(std::int64_t client_id, const Bytes& wrapped) const {
  auto k = crypto::open_secret(keys_.data_key_wrap(), wrapped, person_key_ad(client_id));
  if (!k) throw DbError(fmt::format("the key of client {} does not open under this master key", client_id));
  return std::move(*k);
}

void Store::rekey(const crypto::Keyring& next) {
  // Clients: new wrapping of the person key, new blind index of the number.
  struct Client {
    std::int64_t id;
    Bytes wrapped;
    Bytes number_ct;
  };
  std::vector<Client> clients;
  {
    auto& st = db_.cached("SELECT id, person_key, number_ct FROM clients");
    while (st.step()) clients.push_back({st.int64(0), st.blob(1), st.blob(2)});
  }
  for (const auto& c : clients) {
    const auto key = person_key(c.id, c.wrapped);
    const auto number = crypto::open(key, c.number_ct, number_ad(c.id));
    if (!number) throw DbError(fmt::format("the number of client {} does not open", c.id));
    db_.cached("UPDATE clients SET blind_index = ?, person_key = ? WHERE id = ?")
        .bind(1, next.blind_index(*number))
        .bind(2, crypto::seal(next.data_key_wrap(), key.bytes(), person_key_ad(c.id)))
        .bind(3, c.id)
        .run();
  }
  // Sessions: new wrapping of each live session's data key.
  std::vector<std::pair<std::string, Bytes>> sessions;
  {
    auto& st = db_.cached("SELECT id, data_key FROM sessions WHERE data_key IS NOT NULL");
    while (st.step()) sessions.emplace_back(st.text(0), st.blob(1));
  }
  for (const auto& [id, wrapped] : sessions) {
    auto key = crypto::open_secret(keys_.data_key_wrap(), wrapped, data_key_ad(id));
    if (!key) throw DbError(fmt::format("the data key of session {} does not open", id));
    db_.cached("UPDATE sessions SET data_key = ? WHERE id = ?")
        .bind(1, crypto::seal(next.data_key_wrap(), key->bytes(), data_key_ad(id)))
        .bind(2, id)
        .run();
  }
  db_.cached("UPDATE meta SET value = ? WHERE name = 'alias_key'")
      .bind(1, crypto::seal(next.data_key_wrap(), alias_key_.bytes(), alias_key_ad))
      .run();
  db_.cached("UPDATE meta SET value = ? WHERE name = 'key_check'")
      .bind(1, crypto::seal(next.key_check(), key_check_text, key_check_ad))
      .run();
  drop_caches();
}

bool Store::add_talent(std::string_view alias, std::string_view secret_hash, UnixMs now) {
  auto& retired = db_.cached("SELECT 1 FROM retired_aliases WHERE hash = ?");
  retired.bind(1, alias_hash(alias));
  if (retired.step()) return false;
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
  auto& find = db_.cached("SELECT alias FROM talents WHERE id = ?");
  find.bind(1, talent_id);
  if (!find.step()) return false;
  db_.cached("INSERT OR IGNORE INTO retired_aliases(hash) VALUES(?)").bind(1, alias_hash(find.text(0))).run();
  {
    // Only live sessions have messages; the caller tore them down already,
    // but a session missed there must not leave its rows behind.
    std::vector<std::string> live;
    auto& st = db_.cached("SELECT id FROM sessions WHERE talent_id = ? AND state != 'closed'");
    st.bind(1, talent_id);
    while (st.step()) live.push_back(st.text(0));
    for (const auto& id : live) delete_messages(id);
  }
  db_.cached("DELETE FROM sessions WHERE talent_id = ?").bind(1, talent_id).run();
  db_.cached("DELETE FROM sms_sticky WHERE talent_id = ?").bind(1, talent_id).run();
  db_.cached("DELETE FROM resume_tickets WHERE role = 0 AND owner = (SELECT alias FROM talents WHERE id = ?)")
      .bind(1, talent_id)
      .run();
  db_.cached("DELETE FROM talents WHERE id = ?").bind(1, talent_id).run();
  return db_.changes() == 1;
}

void Store::save_ticket(const TicketRecord& t) {
  db_.cached("INSERT OR REPLACE INTO resume_tickets(hash, role, owner, expires_at) VALUES(?, ?, ?, ?)")
      .bind(1, std::span<const std::uint8_t>(t.hash))
      .bind(2, static_cast<std::int64_t>(t.role))
      .bind(3, t.owner)
      .bind(4, t.expires_at)
      .run();
}

void Store::delete_ticket(std::span<const std::uint8_t> hash) {
  db_.cached("DELETE FROM resume_tickets WHERE hash = ?").bind(1, hash).run();
}

void Store::delete_tickets(int role, std::string_view owner) {
  db_.cached("DELETE FROM resume_tickets WHERE role = ? AND owner = ?")
      .bind(1, static_cast<std::int64_t>(role))
      .bind(2, owner)
      .run();
}

std::vector<Store::TicketRecord> Store::tickets(UnixMs now) {
  db_.cached("DELETE FROM resume_tickets WHERE expires_at <= ?").bind(1, now).run();
  std::vector<TicketRecord> out;
  auto& st = db_.cached("SELECT hash, role, owner, expires_at FROM resume_tickets");
  while (st.step()) out.push_back(TicketRecord{st.blob(0), static_cast<int>(st.int64(1)), st.text(2), st.int64(3)});
  return out;
}

std::int64_t Store::client_for_number(std::string_view number, UnixMs now) {
  const auto index = keys_.blind_index(number);
  auto& find = db_.cached("SELECT id FROM clients WHERE blind_index = ?");
  find.bind(1, index);
  if (find.step()) return find.int64(0);
  // The row id is part of the associated data, so insert first and seal after.
  db_.cached("INSERT INTO clients(blind_index, person_key, number_ct, created_at) VALUES(?, x'', x'', ?)")
      .bind(1, index)
      .bind(2, now)
      .run();
  const auto id = db_.last_insert_rowid();
  // An arena slot, not a Secret of its own: a sodium_malloc per new client
  // cost three mappings and their removal (a fifth of a booking's CPU).
  const auto key = arena_.random();
  db_.cached("UPDATE clients SET person_key = ?, number_ct = ? WHERE id = ?")
      .bind(1, crypto::seal(keys_.data_key_wrap(), key.bytes(), person_key_ad(id)))
      .bind(2, crypto::seal(key.bytes(), number, number_ad(id)))
      .bind(3, id)
      .run();
  return id;
}

std::optional<std::string> Store::client_number(std::int64_t client_id) {
  auto& st = db_.cached("SELECT person_key, number_ct FROM clients WHERE id = ?");
  st.bind(1, client_id);
  if (!st.step()) return std::nullopt;
  return crypto::open(person_key(client_id, st.blob(0)), st.blob(1), number_ad(client_id));
}

std::optional<std::int64_t> Store::find_client(std::string_view number) {
  auto& st = db_.cached("SELECT id FROM clients WHERE blind_index = ?");
  st.bind(1, keys_.blind_index(number));
  if (!st.step()) return std::nullopt;
  return st.int64(0);
}

ClientStanding Store::standing(std::int64_t client_id, const RestrictionRule& rule) {
  ClientStanding s;
  auto& c = db_.cached("SELECT verified_at, verify_method, restricted FROM clients WHERE id = ?");
  c.bind(1, client_id);
  std::optional<std::int64_t> manual;
  if (c.step()) {
    s.verified_at = c.opt_int64(0);
    s.verified = s.verified_at.has_value();
    s.verify_method = c.text(1);
    manual = c.opt_int64(2);
  }
  auto& r = db_.cached("SELECT count(*), coalesce(avg(score), 0) FROM ratings WHERE client_id = ?");
  r.bind(1, client_id);
  if (r.step()) {
    s.ratings = r.int64(0);
    s.average = r.real(1);
  }
  auto& n = db_.cached("SELECT count(*) FROM sessions WHERE client_id = ?");
  n.bind(1, client_id);
  if (n.step()) s.sessions = n.int64(0);
  if (manual) s.restricted = *manual != 0;
  else s.restricted = rule.below > 0 && s.ratings >= rule.min_ratings && s.average < rule.below;
  return s;
}

void Store::verify_client(std::string_view number, std::string_view method, UnixMs now) {
  const auto id = client_for_number(number, now);
  db_.cached("UPDATE clients SET verified_at = ?, verify_method = ? WHERE id = ?")
      .bind(1, now)
      .bind(2, method)
      .bind(3, id)
      .run();
}

void Store::set_restricted(std::string_view number, std::optional<bool> restricted, UnixMs now) {
  const auto id = client_for_number(number, now);
  std::optional<std::int64_t> v;
  if (restricted) v = *restricted ? 1 : 0;
  db_.cached("UPDATE clients SET restricted = ? WHERE id = ?").bind(1, v).bind(2, id).run();
}

RateResult Store::rate(std::string_view session, std::int64_t talent_id, int score, UnixMs now, UnixMs window) {
  auto& st = db_.cached("SELECT talent_id, client_id, state, closed_at FROM sessions WHERE id = ?");
  st.bind(1, session);
  if (!st.step() || st.int64(0) != talent_id) return RateResult::unknown;
  const auto client_id = st.int64(1);
  const auto state = proto::session_state_from(st.text(2)).value_or(SessionState::closed);
  const auto closed_at = st.opt_int64(3);
  if (state == SessionState::open || state == SessionState::active) return RateResult::not_closing;
  if (state == SessionState::closed && closed_at && *closed_at + window < now) return RateResult::too_late;
  db_.cached("INSERT INTO ratings(session_id, client_id, score, rated_at) VALUES(?,?,?,?) ON CONFLICT DO NOTHING")
      .bind(1, session)
      .bind(2, client_id)
      .bind(3, score)
      .bind(4, now)
      .run();
  return db_.changes() == 1 ? RateResult::ok : RateResult::already;
}

std::string Store::pair_alias(std::int64_t talent_id, std::int64_t client_id) const {
  const auto h = crypto::keyed_hash(alias_key_, fmt::format("pair-alias:{}:{}", talent_id, client_id));
  return "guest-" + crypto::base32_lower(h).substr(0, 4);
}

std::vector<std::string> Store::erase_client(std::string_view number, UnixMs now) {
  std::vector<std::string> live;
  const auto client_id = find_client(number);
  if (!client_id) return live;
  {
    auto& st = db_.cached("SELECT id FROM sessions WHERE client_id = ? AND state != 'closed'");
    st.bind(1, *client_id);
    while (st.step()) live.push_back(st.text(0));
  }
  // Teardown deletes their messages; closed sessions have none.
  for (const auto& id : live) teardown(id, "client_erased", now);
  db_.cached("DELETE FROM sessions WHERE client_id = ?").bind(1, *client_id).run();
  db_.cached("DELETE FROM ratings WHERE client_id = ?").bind(1, *client_id).run();
  db_.cached("DELETE FROM sms_sticky WHERE client_id = ?").bind(1, *client_id).run();
  db_.cached("DELETE FROM sms_outbox WHERE client_id = ?").bind(1, *client_id).run();
  db_.cached("DELETE FROM clients WHERE id = ?").bind(1, *client_id).run();
  return live;
}

void Store::insert_session(const SessionRecord& r) {
  auto key = arena_.random();
  const auto wrapped = crypto::seal(keys_.data_key_wrap(), key.bytes(), data_key_ad(r.id));
  db_.cached(
         "INSERT INTO sessions(id, talent_id, client_id, client_alias, package, channels, max_messages, "
         "state, booked_at, expires_at, token_hash, data_key, idle_timeout, proxy_number, call_minutes, "
         "first_contact, client_contacted, call_seconds) "
         "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
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
      .bind(13, r.idle_timeout_ms)
      .bind(14, r.proxy_number.empty() ? std::nullopt : std::optional<std::string_view>(r.proxy_number))
      .bind(15, r.call_minutes)
      .bind(16, std::string_view(r.client_first ? "client" : "either"))
      .bind(17, static_cast<std::int64_t>(r.client_contacted))
      .bind(18, r.call_seconds)
      .run();
  data_keys_.insert_or_assign(r.id, std::move(key));
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
  if (r.state != SessionState::closed) {
    const auto* p = positions(r.id);
    r.message_count = p ? static_cast<std::int64_t>(p->slots.size()) : 0;
  }
  r.token_hash = st.blob(16);
  r.idle_timeout_ms = st.int64(17);
  r.proxy_number = st.text(18);
  r.call_minutes = st.int64(19);
  r.client_first = st.text(20) == "client";
  r.client_contacted = st.int64(21) != 0;
  r.call_seconds = st.int64(22);
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

void Store::shift_live_times(UnixMs delta) {
  db_.cached("UPDATE sessions SET expires_at = expires_at + ?1, closing_until = closing_until + ?1 "
             "WHERE state != 'closed'")
      .bind(1, delta)
      .run();
  db_.cached("UPDATE resume_tickets SET expires_at = expires_at + ? ").bind(1, delta).run();
}

void Store::mark_client_contacted(std::string_view id) {
  db_.cached("UPDATE sessions SET client_contacted = 1 WHERE id = ?").bind(1, id).run();
}

void Store::add_call_seconds(std::string_view id, std::int64_t seconds) {
  db_.cached("UPDATE sessions SET call_seconds = call_seconds + ? WHERE id = ? AND state != 'closed'")
      .bind(1, seconds)
      .bind(2, id)
      .run();
}

bool Store::teardown(std::string_view id, std::string_view reason, UnixMs closed_at) {
  const auto* p = positions(id);
  db_.cached(
         "UPDATE sessions SET state = 'closed', close_reason = ?, closed_at = ?, closing_until = NULL, "
         "client_alias = NULL, token_hash = NULL, data_key = NULL, proxy_number = NULL, message_count = ? "
         "WHERE id = ? AND state != 'closed'")
      .bind(1, reason)
      .bind(2, closed_at)
      .bind(3, p ? static_cast<std::int64_t>(p->slots.size()) : 0)
      .bind(4, id)
      .run();
  const bool changed = db_.changes() == 1;
  delete_messages(id);
  delete_tickets(1, id);
  // A session link still waiting for the gateway goes with its session.
  db_.cached("DELETE FROM sms_outbox WHERE session_id = ?").bind(1, id).run();
  data_keys_.erase(std::string(id));
  return changed;
}

void Store::delete_messages(std::string_view session) {
  auto& all = positions();
  const auto it = all.find(session);
  if (it == all.end()) return;
  auto& del = db_.cached("DELETE FROM messages WHERE id = ?");
  for (const auto slot : it->second.slots) {
    if (slot == 0) continue;
    del.bind(1, slot_row(slot)).run();
    del.reset();
  }
  all.erase(it);
}

int Store::purge_ratings(UnixMs before) {
  db_.cached("DELETE FROM ratings WHERE rated_at < ?").bind(1, before).run();
  return db_.changes();
}

int Store::purge_closed(UnixMs before) {
  db_.cached("DELETE FROM sessions WHERE state = 'closed' AND closed_at < ?").bind(1, before).run();
  const int purged = db_.changes();
  db_.cached("DELETE FROM sms_sticky WHERE used_at < ?").bind(1, before).run();
  return purged;
}

std::optional<std::string> pick_proxy_number(const std::vector<std::string>& pool,
                                             const std::vector<std::string>& busy,
                                             const std::optional<std::string>& sticky, bool avoid_sticky,
                                             const std::unordered_map<std::string, std::int64_t>& load) {
  std::vector<const std::string*> free;
  for (const auto& n : pool)
    if (std::find(busy.begin(), busy.end(), n) == busy.end()) free.push_back(&n);
  if (free.empty()) return std::nullopt;
  const auto is_sticky = [&](const std::string* n) { return sticky && *n == *sticky; };
  if (!avoid_sticky) {
    for (const auto* n : free)
      if (is_sticky(n)) return *n;
  } else if (free.size() > 1) {
    std::erase_if(free, is_sticky);
  }
  const auto load_of = [&](const std::string* n) {
    auto it = load.find(*n);
    return it == load.end() ? std::int64_t{0} : it->second;
  };
  // stable: among equally loaded numbers, the first in the pool wins
  return **std::min_element(free.begin(), free.end(),
                            [&](const auto* a, const auto* b) { return load_of(a) < load_of(b); });
}

std::optional<std::string> Store::choose_proxy(std::int64_t client_id, std::int64_t talent_id, const ProxyChoice& how) {
  std::vector<std::string> busy;
  {
    auto& st = db_.cached(
        "SELECT proxy_number FROM sessions WHERE client_id = ? AND state != 'closed' AND proxy_number IS NOT NULL");
    st.bind(1, client_id);
    while (st.step()) busy.push_back(st.text(0));
  }
  std::optional<std::string> sticky;
  {
    auto& st = db_.cached("SELECT proxy_number FROM sms_sticky WHERE client_id = ? AND talent_id = ?");
    st.bind(1, client_id).bind(2, talent_id);
    if (st.step()) sticky = st.text(0);
  }
  std::unordered_map<std::string, std::int64_t> load;
  {
    auto& st = db_.cached(
        "SELECT proxy_number, count(*) FROM sessions WHERE state != 'closed' AND proxy_number IS NOT NULL "
        "GROUP BY proxy_number");
    while (st.step()) load[st.text(0)] = st.int64(1);
  }
  return pick_proxy_number(*how.pool, busy, sticky, how.avoid_sticky, load);
}

void Store::remember_proxy(std::int64_t client_id, std::int64_t talent_id, std::string_view number, UnixMs now) {
  db_.cached(
         "INSERT INTO sms_sticky(client_id, talent_id, proxy_number, used_at) VALUES(?,?,?,?) "
         "ON CONFLICT(client_id, talent_id) DO UPDATE SET proxy_number = excluded.proxy_number, "
         "used_at = excluded.used_at")
      .bind(1, client_id)
      .bind(2, talent_id)
      .bind(3, number)
      .bind(4, now)
      .run();
}

std::int64_t Store::add_sms_notice(std::int64_t client_id, std::string_view proxy_number, std::string_view text,
                                   UnixMs now, std::string_view session) {
  // Erased in an earlier job: nothing is queued for them any more.
  auto& known = db_.cached("SELECT person_key FROM clients WHERE id = ?");
  known.bind(1, client_id);
  if (!known.step()) return 0;
  const auto sealed = crypto::seal(person_key(client_id, known.blob(0)).bytes(), text, notice_ad(client_id));
  known.reset();
  auto& insert = db_.cached(
      "INSERT INTO sms_outbox(client_id, proxy_number, text, text_ct, session_id, created_at) VALUES(?,?,'',?,?,?)");
  insert.bind(1, client_id).bind(2, proxy_number).bind(3, sealed);
  if (session.empty()) insert.bind(4, nullptr);
  else insert.bind(4, session);
  insert.bind(5, now).run();
  return db_.last_insert_rowid();
}

void Store::remove_sms_notice(std::int64_t id) { db_.cached("DELETE FROM sms_outbox WHERE id = ?").bind(1, id).run(); }

std::vector<SmsNotice> Store::sms_notices(std::size_t* unreadable) {
  if (unreadable) *unreadable = 0;
  auto& st = db_.cached(
      "SELECT o.id, o.client_id, o.proxy_number, o.text, o.text_ct, c.person_key, o.session_id FROM sms_outbox o "
      "JOIN clients c ON c.id = o.client_id ORDER BY o.id");
  std::vector<SmsNotice> out;
  while (st.step()) {
    SmsNotice n{st.int64(0), st.int64(1), st.text(2), st.text(3), st.is_null(6) ? std::string() : st.text(6)};
    if (!st.is_null(4)) {
      auto text = crypto::open(person_key(n.client_id, st.blob(5)).bytes(), st.blob(4), notice_ad(n.client_id));
      // One bad row does not hold back the others.
      if (!text) {
        if (unreadable) ++*unreadable;
        continue;
      }
      n.text = std::move(*text);
    }
    out.push_back(std::move(n));
  }
  return out;
}

const crypto::KeyArena::Key* Store::data_key(std::string_view session) {
  if (auto it = data_keys_.find(session); it != data_keys_.end()) return &it->second;
  auto& st = db_.cached("SELECT data_key FROM sessions WHERE id = ? AND data_key IS NOT NULL");
  st.bind(1, session);
  if (!st.step()) return nullptr;
  auto k = arena_.acquire();
  if (!crypto::open_to(keys_.data_key_wrap().bytes(), st.blob(0), data_key_ad(session), k.writable()))
    throw DbError(fmt::format("data key of session {} does not open under this master key", session));
  return &data_keys_.emplace(std::string(session), std::move(k)).first->second;
}

namespace {

std::uint64_t send_key(Role sender, std::string_view send_id) {
  return std::hash<std::string_view>{}(send_id) ^ (sender == Role::talent ? 0 : 0x9e3779b97f4a7c15ULL);
}

}  // namespace

Store::BySession<Store::Positions>& Store::positions() {
  if (positions_loaded_) return positions_;
  positions_.clear();
  auto& st = db_.cached("SELECT id, session_id, seq, sender, send_id, body IS NULL FROM messages");
  std::string session;
  Positions* p = nullptr;
  while (st.step()) {
    // Rows come in arrival order, so runs of one session are common.
    if (!p || st.text(1) != session) {
      session = st.text(1);
      p = &positions_[session];
    }
    const auto seq = st.int64(2);
    if (seq < 1) throw DbError(fmt::format("message {} of session {} has seq {}", st.int64(0), session, seq));
    const auto sender = st.int64(3) == 0 ? Role::talent : Role::client;
    if (p->slots.size() < static_cast<std::size_t>(seq)) p->slots.resize(static_cast<std::size_t>(seq), 0);
    p->slots[static_cast<std::size_t>(seq - 1)] = make_slot(st.int64(0), st.int64(5) != 0, role_code(sender));
    p->sent.put(send_key(sender, st.text(4)), seq);
    next_message_id_ = std::max(next_message_id_, st.int64(0) + 1);
  }
  positions_loaded_ = true;
  return positions_;
}

const Store::Positions* Store::positions(std::string_view session) {
  auto& all = positions();
  const auto it = all.find(session);
  return it == all.end() ? nullptr : &it->second;
}

std::optional<AppendResult> Store::append(std::string_view session, Role sender, std::string_view send_id,
                                          std::string_view text, UnixMs now, bool redacted) {
  const auto* key = data_key(session);
  if (!key) return std::nullopt;
  auto& all = positions();
  auto it = all.find(session);
  if (it == all.end()) it = all.emplace(std::string(session), Positions{}).first;
  auto& p = it->second;
  const auto h = send_key(sender, send_id);
  if (const auto first = p.sent.find(h); first != 0) {
    const auto slot = p.slots[static_cast<std::size_t>(first - 1)];
    auto& st = db_.cached("SELECT sender, send_id, sent_at FROM messages WHERE id = ?");
    st.bind(1, slot_row(slot));
    if (slot != 0 && st.step() && st.int64(0) == role_code(sender) && st.text(1) == send_id)
      return AppendResult{first, st.int64(2), true};
    // Another message under the same hash: this one is new.
  }
  const auto seq = static_cast<std::int64_t>(p.slots.size()) + 1;
  const auto body = crypto::seal(key->bytes(), text, BodyAd(session, seq, sender));
  const auto row = next_message_id_++;
  db_.cached("INSERT INTO messages(id, session_id, seq, sender, send_id, sent_at, redacted, body) VALUES(?,?,?,?,?,?,?,?)")
      .bind(1, row)
      .bind(2, session)
      .bind(3, seq)
      .bind(4, role_code(sender))
      .bind(5, send_id)
      .bind(6, now)
      .bind(7, std::int64_t{redacted})
      .bind(8, body)
      .run();
  p.slots.push_back(make_slot(row, false, role_code(sender)));
  p.sent.put(h, seq);
  if (seq == 1) db_.cached("UPDATE sessions SET state = 'active' WHERE id = ? AND state = 'open'").bind(1, session).run();
  return AppendResult{seq, now, false};
}

void Store::ack(std::string_view session, Role receiver, std::int64_t upto) {
  auto& all = positions();
  const auto it = all.find(session);
  if (it == all.end()) return;
  auto& p = it->second;
  auto& done = p.acked[static_cast<std::size_t>(role_code(receiver))];
  // Only as far as messages exist: a later message under an early ack's
  // number must still be cleared by its own ack.
  const auto last = std::min(upto, static_cast<std::int64_t>(p.slots.size()));
  if (last <= done) return;  // already acknowledged
  const auto from = role_code(other(receiver));
  const auto now = std::chrono::steady_clock::now();
  for (auto seq = done + 1; seq <= last; ++seq) {
    auto& slot = p.slots[static_cast<std::size_t>(seq - 1)];
    if (!queued_from(slot, from)) continue;
    to_clear_.push({slot_row(slot), now});
    slot |= slot_cleared;
  }
  done = last;
}

std::size_t Store::clear_acked(std::size_t max_rows, std::int64_t spare_newest,
                              std::chrono::steady_clock::time_point acked_by) {
  const std::int64_t below = next_message_id_ - spare_newest;
  if (to_clear_.empty() || !clearable(to_clear_.top(), below, acked_by)) return 0;
  // Rows come out oldest first, and once every session has acknowledged a
  // stretch of messages their ids follow each other: a run of consecutive
  // ids is one range update (one descent of the B-tree, then along a leaf),
  // not one descent per row.
  auto& one = db_.cached("UPDATE messages SET body = NULL WHERE id = ?");
  auto& run = db_.cached("UPDATE messages SET body = NULL WHERE id >= ? AND id <= ?");
  std::size_t n = 0;
  while (n < max_rows && !to_clear_.empty() && clearable(to_clear_.top(), below, acked_by)) {
    const auto first = to_clear_.top().row;
    auto last = first;
    to_clear_.pop();
    ++n;
    while (n < max_rows && !to_clear_.empty() && to_clear_.top().row == last + 1 &&
           clearable(to_clear_.top(), below, acked_by)) {
      last = to_clear_.top().row;
      to_clear_.pop();
      ++n;
    }
    if (first == last) {
      one.bind(1, first).run();
      one.reset();
    } else {
      run.bind(1, first).bind(2, last).run();
      run.reset();
    }
  }
  return n;
}

std::vector<StoredMessage> Store::pending(std::string_view session, Role receiver) {
  std::vector<StoredMessage> out;
  const auto* key = data_key(session);
  if (!key) return out;
  const auto* p = positions(session);
  if (!p) return out;
  const Role sender = other(receiver);
  auto& st = db_.cached("SELECT sent_at, body, redacted FROM messages WHERE id = ? AND body IS NOT NULL");
  for (auto seq = p->acked[static_cast<std::size_t>(role_code(receiver))] + 1;
       seq <= static_cast<std::int64_t>(p->slots.size()); ++seq) {
    const auto slot = p->slots[static_cast<std::size_t>(seq - 1)];
    if (!queued_from(slot, role_code(sender))) continue;
    st.bind(1, slot_row(slot));
    if (st.step()) {
      auto text = crypto::open(key->bytes(), st.blob(1), BodyAd(session, seq, sender));
      if (!text) throw DbError(fmt::format("message {} of session {} does not open", seq, session));
      out.push_back({std::string(session), seq, sender, std::move(*text), st.int64(0), st.int64(2) != 0});
    }
    st.reset();
  }
  return out;
}

void Store::drop_caches() {
  positions_.clear();
  positions_loaded_ = false;
  // Acks whose bodies were not cleared in a committed transaction are
  // forgotten with the positions: those messages are pending again.
  to_clear_ = {};
  data_keys_.clear();
}

}  // namespace tirai::store
