#pragma once
#include "crypto/key_arena.hpp"
#include "crypto/keyring.hpp"
#include "proto/frames.hpp"
#include "store/database.hpp"
#include "store/send_id_table.hpp"

#include <array>
#include <chrono>
#include <functional>
#include <queue>
#include <memory>
#include <utility>
#include <unordered_map>
#include <vector>

namespace tirai::store {

using proto::Role;
using proto::SessionState;
using proto::UnixMs;

struct TalentRecord {
  std::int64_t id{};
  std::string alias;
  std::string secret_hash;  // Argon2id string
  UnixMs created_at{};
};

// What a talent and the operator may know of a client: never who rated.
struct ClientStanding {
  bool verified = false;
  std::string verify_method;
  std::optional<UnixMs> verified_at;
  bool restricted = false;
  double average = 0;  // of all ratings; 0 when there are none
  std::int64_t ratings = 0;
  std::int64_t sessions = 0;  // session records kept for this client
};

// The automatic restriction: an average below `below` over at least
// `min_ratings` ratings. `below` of 0 turns it off.
struct RestrictionRule {
  double below = 0;
  int min_ratings = 3;
};

enum class RateResult { ok, unknown, not_closing, too_late, already };

struct SessionRecord {
  std::string id;
  std::int64_t talent_id{};
  std::string talent_alias;
  std::int64_t client_id{};
  std::string client_alias;  // empty after teardown
  std::string package;
  std::vector<std::string> channels;
  std::optional<std::int64_t> max_messages;
  std::int64_t idle_timeout_ms = 0;  // 0: none
  std::int64_t call_minutes = 0;     // the package's, for the whole session; 0: no limit but the session's
  bool client_first = false;         // the package's first_contact = "client"
  bool client_contacted = false;     // the client has written or called
  std::int64_t call_seconds = 0;     // answered call time used so far
  SessionState state{};
  std::string close_reason;
  UnixMs booked_at{};
  UnixMs expires_at{};
  std::optional<UnixMs> closing_until;
  std::optional<UnixMs> closed_at;
  bool warned = false;
  std::int64_t message_count = 0;
  Bytes token_hash;  // empty after teardown
  std::string proxy_number;  // the pool number the client texts; empty without SMS and after teardown
  // The client's number for SMS sessions, filled in by the relay (not read here).
  std::shared_ptr<const crypto::ArenaText> client_number;
  ClientStanding standing;  // filled on request (standing()), not stored with the session
};

struct AppendResult {
  std::int64_t seq{};
  UnixMs sent_at{};
  bool duplicate = false;
};

// A relay notice waiting for the SMS gateway.
struct SmsNotice {
  std::int64_t id{};
  std::int64_t client_id{};
  std::string proxy_number;
  std::string text;
  std::string session;  // a notice that dies with its session (the link of send_link); "" for the others
};

// How a proxy number is chosen for a booking (design §9).
struct ProxyChoice {
  const std::vector<std::string>* pool = nullptr;  // in the operator's order
  bool avoid_sticky = false;                        // false: sticky
};

// The pool rule as a pure function: a number not in `busy` (the client's live
// sessions' numbers); the sticky number when free and wanted, else (or when
// avoided and another is free) the least loaded free number, ties in pool
// order. nullopt when every number is busy for this client.
std::optional<std::string> pick_proxy_number(const std::vector<std::string>& pool,
                                             const std::vector<std::string>& busy,
                                             const std::optional<std::string>& sticky, bool avoid_sticky,
                                             const std::unordered_map<std::string, std::int64_t>& load);

struct StoredMessage {
  std::string session;
  std::int64_t seq{};
  Role sender{};
  std::string text;
  UnixMs sent_at{};
  bool redacted = false;
};

// The repositories over one SQLite file. Real numbers and message bodies are
// sealed here on the way in, so nothing above this class writes them in clear.
// Not thread-safe: one thread owns a Store. Every method throws DbError on a
// storage failure; expected outcomes (taken alias, gone session) are values.
class Store {
 public:
  // Opens (creating and migrating) the database. Throws DbError when `keys`
  // is not the master key this database was written under.
  Store(const std::filesystem::path& path, Synchronous sync, const crypto::Keyring& keys);

  // Re-wraps every per-session, per-person and alias key and recomputes every
  // blind index under `next`, in the caller's transaction. Afterwards only
  // `next` opens this database; this Store must not be used again.
  void rekey(const crypto::Keyring& next);

  Database& db() { return db_; }

  // ---- talents ----
  // False when the alias is taken or belonged to an erased talent.
  bool add_talent(std::string_view alias, std::string_view secret_hash, UnixMs now);
  std::vector<TalentRecord> talents();
  std::optional<TalentRecord> talent(std::string_view alias);
  // Erases the talent: their row, every session record of theirs (live ones
  // must be torn down first), and retires their alias for good. False when
  // no such talent.
  bool remove_talent(std::int64_t talent_id);

  // ---- resume tickets (design §12) ----
  struct TicketRecord {
    Bytes hash;  // crypto::token_hash of the ticket; the ticket itself is never stored
    int role = 0;  // 0 talent, 1 client
    std::string owner;  // the talent's alias, or the client's session id
    UnixMs expires_at{};
  };
  void save_ticket(const TicketRecord& t);
  void delete_ticket(std::span<const std::uint8_t> hash);
  void delete_tickets(int role, std::string_view owner);
  // The tickets not expired at `now`; the others are deleted.
  std::vector<TicketRecord> tickets(UnixMs now);

  // ---- clients ----
  // The client id for a normalised E.164 number, creating the client (number
  // sealed, blind index stored) on first sight.
  std::int64_t client_for_number(std::string_view number, UnixMs now);
  // Decrypts a client's number; nullopt for an unknown or erased client.
  std::optional<std::string> client_number(std::int64_t client_id);
  // The client with this normalised number, if any; creates nothing.
  std::optional<std::int64_t> find_client(std::string_view number);
  // Erases the client with this number, if any: live sessions are torn down
  // (reason client_erased), then their row (blind index, sealed number,
  // per-person key) and every session record of theirs are deleted. Returns
  // the ids of the sessions that were live.
  std::vector<std::string> erase_client(std::string_view number, UnixMs now);

  // The client's standing under `rule`; a fresh client when unknown.
  ClientStanding standing(std::int64_t client_id, const RestrictionRule& rule);
  // Records that the client (created if new) was verified, how and when.
  void verify_client(std::string_view number, std::string_view method, UnixMs now);
  // Restricts (true) or releases (false) the client by hand, overriding the
  // rating rule; nullopt hands the decision back to the rule.
  void set_restricted(std::string_view number, std::optional<bool> restricted, UnixMs now);
  // Stores a talent's rating of the client of `session`: only the session's
  // talent, only while closing or within `window` after close, only once.
  RateResult rate(std::string_view session, std::int64_t talent_id, int score, UnixMs now, UnixMs window);
  // For a per-pair client alias: stable per (talent, client), unguessable.
  std::string pair_alias(std::int64_t talent_id, std::int64_t client_id) const;

  // ---- sessions ----
  // Stores a booked session with a fresh data key (sealed under the data-key
  // wrapping key). `rec.token_hash` must be set.
  void insert_session(const SessionRecord& rec);
  std::optional<SessionRecord> session(std::string_view id);
  // Sessions not closed, oldest booking first.
  std::vector<SessionRecord> live_sessions();
  std::vector<SessionRecord> sessions(std::optional<SessionState> state);
  bool client_alias_in_use(std::int64_t talent_id, std::string_view alias);
  void set_closing(std::string_view id, std::string_view reason, UnixMs closing_until);
  void mark_warned(std::string_view id);
  // The system clock was stepped by `delta` ms: every session not closed
  // ends (and closes, in grace) that much later, and every resume ticket
  // expires that much later, so a restart keeps what the step left alone.
  void shift_live_times(UnixMs delta);
  // The client of session `id` wrote or called (first_contact = "client").
  void mark_client_contacted(std::string_view id);
  // A call of session `id` ended after `seconds` of talk.
  void add_call_seconds(std::string_view id, std::int64_t seconds);
  // Tears a session down in the caller's transaction: queued messages, send
  // ids, token hash, client alias and data key are deleted; the minimal record
  // (ids, times, counts, reason) stays. False when already closed or unknown.
  bool teardown(std::string_view id, std::string_view reason, UnixMs closed_at);
  // Deletes minimal records of sessions closed before `before` (and sticky
  // proxy numbers last used before it); returns how many sessions.
  int purge_closed(UnixMs before);
  // Deletes ratings given before `before` (policy.rating_retention); returns how many.
  int purge_ratings(UnixMs before);

  // ---- proxy numbers ----
  // Chooses the proxy number for a new session of this client with this
  // talent under the pool rule; nullopt when the pool is exhausted for them.
  std::optional<std::string> choose_proxy(std::int64_t client_id, std::int64_t talent_id, const ProxyChoice& how);
  // Remembers the number for sticky selection.
  void remember_proxy(std::int64_t client_id, std::int64_t talent_id, std::string_view number, UnixMs now);
  // Queues a notice, sealed under the client's key; returns its id, or 0
  // when the client is gone (erased). With `session`, the notice is deleted
  // at that session's teardown if still queued.
  std::int64_t add_sms_notice(std::int64_t client_id, std::string_view proxy_number, std::string_view text, UnixMs now,
                              std::string_view session = {});
  void remove_sms_notice(std::int64_t id);
  // Queued notices, oldest first. A row that does not open under its key is
  // left out (and counted in `unreadable`), so that it holds back no other.
  std::vector<SmsNotice> sms_notices(std::size_t* unreadable = nullptr);

  // ---- messages ----
  // Stores a message under the next seq of its session. A retry with the
  // same (sender, send_id) returns the first seq with duplicate=true and
  // stores nothing. nullopt when the session has no data key (torn down).
  std::optional<AppendResult> append(std::string_view session, Role sender, std::string_view send_id,
                                     std::string_view text, UnixMs now, bool redacted = false);
  // Marks the messages to `receiver` with seq <= upto acknowledged: from now
  // on pending() leaves them out. Their bodies are cleared by clear_acked,
  // which the store worker runs after its jobs, so that a burst of acks
  // (thousands of rows at once) does not hold up the messages behind it.
  void ack(std::string_view session, Role receiver, std::int64_t upto);
  // Clears (with secure_delete, overwrites) the bodies of up to `max_rows`
  // acknowledged messages, oldest first (in file order, so that a run of
  // clears rewrites each page once); returns how many it took. Rows among
  // the `spare_newest` newest message rows wait, and so do rows acked after
  // `acked_by`: their neighbours are likely still to be acked (peers ack at
  // their own pace, and after a reconnect many ack at once), and a page
  // cleared row by row over several commits is written to the WAL at each.
  std::size_t clear_acked(std::size_t max_rows, std::int64_t spare_newest = 0,
                          std::chrono::steady_clock::time_point acked_by = std::chrono::steady_clock::time_point::max());
  // Acknowledged messages whose bodies are not cleared yet. If the process
  // dies before they are, their ack is lost: they are sent again (a peer
  // drops what it has by seq) and cleared by the next ack.
  std::size_t acked_uncleared() const { return to_clear_.size(); }
  // When the ack of the first body clear_acked would take came (rows go out
  // in file order, so none is taken before it); max() when none waits.
  std::chrono::steady_clock::time_point first_uncleared_acked_at() const {
    return to_clear_.empty() ? std::chrono::steady_clock::time_point::max() : to_clear_.top().acked;
  }
  // Unacknowledged messages to `receiver`, in seq order, decrypted.
  std::vector<StoredMessage> pending(std::string_view session, Role receiver);

  // Forgets what this Store caches for the thread (message positions, data
  // keys); called when a transaction is rolled back. They are read from the
  // file again on next use, after the rollback.
  void drop_caches();

  // Asks the store worker to checkpoint (and truncate) the WAL, so content
  // deleted by a teardown does not linger in the WAL file. `now`: at the end of this group (erasure); otherwise the store worker
  // may gather the requests of a second's teardowns into one checkpoint.
  void request_checkpoint(bool now = false) {
    checkpoint_requested_ = true;
    checkpoint_now_ = checkpoint_now_ || now;
  }
  // {requested, now}; clears the request.
  std::pair<bool, bool> take_checkpoint_request() {
    return {std::exchange(checkpoint_requested_, false), std::exchange(checkpoint_now_, false)};
  }

 private:
  const crypto::KeyArena::Key* data_key(std::string_view session);
  SessionRecord read_session(const Statement& st);
  void check_or_write_key_check();
  crypto::Secret load_or_create_alias_key();
  Bytes alias_hash(std::string_view alias) const;
  crypto::Secret person_key(std::int64_t client_id, const Bytes& wrapped) const;

  Database db_;
  const crypto::Keyring& keys_;
  crypto::KeyArena arena_;
  crypto::Secret alias_key_;
  // Per-session maps, looked up by a string_view without building a string.
  struct SessionHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <typename V>
  using BySession = std::unordered_map<std::string, V, SessionHash, std::equal_to<>>;

  // Per live session with messages: where each of its messages is. The
  // messages table has no index by session (rows are in arrival order, so a
  // group commit writes few pages); this record, read by one scan of the
  // table on first use after a start or a rollback, finds a session's rows.
  struct Positions {
    // Index seq-1: rowid << 2 | acked << 1 | sender (0 talent, 1 client);
    // 0 for a seq without a row. The size is the session's last seq.
    std::vector<std::int64_t> slots;
    // Per receiver (talent, client): every body to it up to this seq is
    // cleared, so an ack looks only at the slots after it.
    std::array<std::int64_t, 2> acked{};
    // A hash of (sender, send id) -> seq for every message stored, so that a
    // retry finds its first seq (a hash match is checked against the row).
    SendIdTable sent;
  };
  BySession<Positions>& positions();
  const Positions* positions(std::string_view session);
  // Deletes a session's message rows and forgets their positions.
  void delete_messages(std::string_view session);
  BySession<Positions> positions_;
  bool positions_loaded_ = false;
  // Acknowledged messages whose bodies are still to clear, smallest row id
  // first, with when their ack came. Their slots are marked cleared already.
  struct ToClear {
    std::int64_t row;
    std::chrono::steady_clock::time_point acked;
    bool operator>(const ToClear& o) const { return row > o.row; }
  };
  std::priority_queue<ToClear, std::vector<ToClear>, std::greater<>> to_clear_;
  bool clearable(const ToClear& c, std::int64_t below, std::chrono::steady_clock::time_point acked_by) const {
    return c.row < below && c.acked <= acked_by;
  }
  // The next message row id. Ids are never reused while tiraid runs (a
  // teardown deleting the newest rows does not give their ids out again), so
  // a row id in to_clear_ whose row is gone matches nothing.
  std::int64_t next_message_id_ = 1;
  // Unwrapped session data keys, in arena_'s locked memory (the map is
  // declared after the arena, so it is destroyed before it).
  BySession<crypto::KeyArena::Key> data_keys_;
  bool checkpoint_requested_ = false;
  bool checkpoint_now_ = false;
};

}  // namespace tirai::store
