#pragma once
#include "proto/frames.hpp"
#include "relay/config/config.hpp"
#include "relay/core/clock.hpp"
#include "relay/core/metrics.hpp"
#include "relay/core/peer.hpp"
#include "relay/core/runner.hpp"
#include "relay/core/session_events.hpp"
#include "store/store.hpp"

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

namespace tirai::relay {

// The message of a failed store job, for the log (store errors carry no
// numbers, tokens or texts: they name tables and session ids).
std::string describe(std::exception_ptr e);
// Bytes (a token hash, a blind index) as the key of a map.
inline std::string as_key(const crypto::Bytes& b) { return {b.begin(), b.end()}; }

// A live session as the core keeps it; each capability keeps what else it
// needs per session itself.
struct LiveSession {
  explicit LiveSession(store::SessionRecord r) : rec(std::move(r)) {}
  store::SessionRecord rec;
  Peer* client = nullptr;    // the client's connection, while it is attached
  UnixMs last_activity = 0;  // for the package's idle timeout
  int holds = 0;             // capabilities keeping it in use (a call is up): no idle timeout meanwhile
  bool idle_applies() const { return rec.idle_timeout_ms > 0 && holds == 0; }
};

// A talent enrolled on this relay.
struct Talent {
  std::int64_t id{};
  std::string secret_hash;
  UnixMs created_at{};
  Peer* peer = nullptr;             // the talent's connection, while it is attached
  std::set<std::string> sessions;   // live session ids
};

// The session core (design §4): the table of live sessions and their state
// machine (open, active, closing, closed), the deadlines that drive it
// (warning, expiry, grace, purge), teardown, and who is attached to which
// session. It announces each step through SessionEvents and knows no
// capability by name.
//
// Relay thread only. Storage goes through StoreRunner and time through
// Clock, so tests drive it with fakes.
class SessionCore {
 public:
  SessionCore(const Config& config, StoreRunner& store, const Clock& clock, Metrics& metrics);

  // Listeners hear events in the order they subscribed.
  void subscribe(SessionEvents& events) { listeners_.push_back(&events); }
  void add_timed(Timed& timed) { timed_.push_back(&timed); }

  // Start-up: the stored talents and live sessions. Sessions already past
  // their end are torn down at once (their timers ran out while we were down).
  void load(std::vector<store::TalentRecord> talents, std::vector<store::SessionRecord> live);
  // Shutdown: closes every connection with 1001.
  void close_all();

  // ---- connections ----
  void attach(Peer& peer);
  void detach(Peer& peer);
  Peer* find_peer(std::uint64_t id);
  std::size_t connections() const { return peers_.size(); }
  // A talent's hello succeeded: `peer` is attached to her sessions (an older
  // connection of hers is closed). Returns her live session ids.
  std::vector<std::string> attach_talent(Peer& peer, const std::string& alias);
  // A client's hello succeeded: `peer` is attached to `s` (an older
  // connection of the client is closed).
  void attach_client(Peer& peer, LiveSession& s);
  // After the welcome: announces that `peer` is attached to `sessions`.
  void announce_attached(Peer& peer, const std::vector<std::string>& sessions);
  proto::SessionView view_for(const LiveSession& s, proto::Role role) const;
  Peer* talent_peer(const LiveSession& s);
  Peer* peer_for(const LiveSession& s, proto::Role role) {
    return role == proto::Role::talent ? talent_peer(s) : s.client;
  }
  void notify_both(LiveSession& s, const std::string& frame);
  // An error frame to `p`, counted in the metrics.
  void reply_error(Peer& p, proto::ErrorCode code, std::string_view message,
                   const std::optional<std::string>& id = std::nullopt);

  // ---- talents ----
  Talent* talent(const std::string& alias);
  const std::map<std::string, Talent>& talents() const { return talents_; }
  // A talent just stored; false when the alias is taken here.
  bool enrol(const store::TalentRecord& t);
  // Ends the talent's sessions now (talent_removed, announced as closing),
  // closes her connection and forgets her. Returns her row id, or nullopt
  // when there is no such talent.
  std::optional<std::int64_t> remove_talent(const std::string& alias);

  // ---- sessions ----
  LiveSession* find(const std::string& id);
  // The live session whose client token is `token`.
  LiveSession* find_by_token(std::string_view token);
  // The live session `id` when `p` may act in it; nullptr otherwise.
  LiveSession* session_for(const Peer& p, const std::string& id);
  const std::unordered_map<std::string, LiveSession>& live() const { return live_; }
  std::size_t live_sessions() const { return live_.size(); }
  // A booking committed: the session is live from now (announced as booked).
  LiveSession& open(store::SessionRecord rec);
  // A message of `s` was stored at `at`: the first makes it active; each
  // restarts the package's idle timeout.
  void activity(LiveSession& s, UnixMs at);
  // The client of `s` wrote or called: under first_contact = "client" the
  // talent may now too. Stored once.
  void client_contacted(LiveSession& s);
  // A capability keeps `s` in use (`on`) or lets it go: the package's idle
  // timeout ("without a message") does not run out while any holds it, and
  // counts again from the last release.
  void hold(LiveSession& s, bool on);
  // An answered call in `s` (held with hold()) ended after `seconds`: they
  // count against the package's call minutes (stored), and the hold goes.
  void answered_call_ended(LiveSession& s, std::int64_t seconds);
  // Starts the end of `s` for `reason`: the grace period (sessions.grace),
  // or teardown at once without one. A second call tears down at once.
  void begin_close(LiveSession& s, std::string_view reason);
  // The client of these sessions was erased (the store already tore them
  // down): they close now, without farewells, and the capabilities forget
  // the client.
  void client_erased(std::int64_t client, const std::vector<std::string>& sessions);
  // A peer's end frame: the session begins to close.
  void on_end(Peer& p, const proto::End& e);

  // ---- time ----
  // Does what is due at clock.now(): expiry notices, expiry, end of grace,
  // purges, and the deadlines of Timed capabilities. First, when the wall
  // clock moved 1 s or more further (or less far) than the monotonic one
  // since the last tick, the system clock was stepped: every live session's
  // end, grace and idle timeout, the resume tickets and the capabilities'
  // deadlines move by the step (stored too), so that NTP setting the clock
  // an hour forward ends no session and an hour back stretches none. Logged
  // once per step, counted in tirai_clock_steps_total.
  void tick();
  static constexpr UnixMs clock_step_threshold_ms = 1000;
  std::optional<UnixMs> next_deadline() const;
  // Called when a deadline earlier than the current earliest is added.
  void on_deadline_change(std::function<void()> f) { deadline_changed_ = std::move(f); }
  // A Timed capability added a deadline at `at`.
  void deadline_added(UnixMs at);

  // ---- what capabilities share ----
  // Runs `job` on the store thread; a failed job without `done` is logged.
  void submit(StoreRunner::Job job, StoreRunner::Done done = {});
  const Config& config() const { return config_; }
  const Clock& clock() const { return clock_; }
  Metrics& metrics() { return metrics_; }

 private:
  void set_state(LiveSession& s, proto::SessionState state);
  // Tears a session down: memory, peers, and (unless the store already did
  // it) the store.
  void close_now(const std::string& id, bool store_teardown = true);
  void schedule(const LiveSession& s);
  void clock_stepped(UnixMs delta);
  void evaluate(const std::string& id, UnixMs now);
  template <typename F>
  void announce(F&& f) {
    for (auto* l : listeners_) f(*l);
  }

  const Config& config_;
  StoreRunner& store_;
  const Clock& clock_;
  Metrics& metrics_;
  std::vector<SessionEvents*> listeners_;
  std::vector<Timed*> timed_;

  std::map<std::string, Talent> talents_;
  std::unordered_map<std::string, LiveSession> live_;
  std::unordered_map<std::string, std::string> by_token_;  // token hash → session id
  std::unordered_map<std::uint64_t, Peer*> peers_;
  std::uint64_t next_peer_id_ = 0;
  std::multimap<UnixMs, std::string> deadlines_;
  UnixMs next_purge_ = 0;
  std::function<void()> deadline_changed_;
  // The two clocks at the last tick, to tell a step from time passing.
  std::optional<std::pair<UnixMs, std::int64_t>> last_tick_;
};

}  // namespace tirai::relay
