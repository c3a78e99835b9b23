#pragma once
#include "crypto/keyring.hpp"
#include "crypto/password.hpp"
#include "proto/frames.hpp"
#include "proto/wipe.hpp"
#include "relay/clock.hpp"
#include "relay/config/config.hpp"
#include "relay/contact_guard.hpp"
#include "relay/login_guard.hpp"
#include "relay/metrics.hpp"
#include "relay/peer.hpp"
#include "relay/runner.hpp"
#include "relay/sms.hpp"
#include "store/store.hpp"

#include <functional>
#include <utility>
#include <map>
#include <set>
#include <unordered_map>
#include <variant>

namespace tirai::relay {

// An admin call's expected failure: an HTTP status and an error code.
struct AdminError {
  unsigned status{};
  std::string code;
  std::string message;
};

template <typename T>
using AdminResult = std::variant<T, AdminError>;

struct BookRequest {
  std::string talent;
  proto::WipedString client_number;  // as the operator typed it; validated as E.164
  std::string package;
  std::optional<bool> sms;  // a proxy number for the client; default: when SMS is enabled
};

struct Booking {
  std::string session;
  std::string client_alias;
  std::string client_token;  // shown once, never stored
  UnixMs expires_at{};
  std::string proxy_number;  // empty without SMS
};

struct ClientCheck {
  std::string number;
};

struct TalentInfo {
  std::string alias;
  bool online = false;
  std::size_t open_sessions = 0;
  UnixMs created_at{};
};

// The heart of the relay: who is connected as whom, which sessions are live,
// what each frame does, and when sessions warn, close and tear down.
//
// Runs on the relay thread only. Storage goes through StoreRunner, password
// hashing through Worker, time through Clock, so tests can drive it with
// fakes. Expected failures are answered to the peer as protocol errors and
// never throw.
class SessionManager {
 public:
  SessionManager(const Config& config, StoreRunner& store, Worker& worker, const crypto::Keyring& keys,
                 const Clock& clock, Metrics& metrics, crypto::PasswordCost cost = {});

  // Start-up: the stored talents and live sessions. Sessions already past
  // their end are torn down at once (their timers ran out while we were down).
  void load(std::vector<store::TalentRecord> talents, std::vector<store::SessionRecord> live);
  // SIGHUP: new bookings use the new packages; running sessions keep theirs.
  void set_packages(std::map<std::string, Package> packages) { packages_ = std::move(packages); }
  // SIGHUP: the new policy applies from the next frame or booking on.
  void set_policy(Policy policy) {
    policy_ = std::move(policy);
    login_guard_.set_failures_per_minute(policy_.login_attempts_per_minute);
  }
  // Addresses and aliases the login limits remember (for tests and metrics).
  std::size_t login_entries() const { return login_guard_.tracked(); }
  // Shutdown: closes every connection with 1001.
  void close_all();

  // ---- connections ----
  void attach(Peer& peer);
  void detach(Peer& peer);
  void on_frame(Peer& peer, proto::Inbound&& frame);

  // ---- admin ----
  void add_talent(std::string alias, std::string secret, std::function<void(std::optional<AdminError>)> done);
  std::vector<TalentInfo> talents() const;
  void remove_talent(const std::string& alias, std::function<void(std::optional<AdminError>)> done);
  void book(BookRequest request, std::function<void(AdminResult<Booking>)> done);
  std::optional<AdminError> end_by_operator(const std::string& session);
  // Ends the client's live sessions (client_erased; the talent is told) and
  // erases everything stored about them. Succeeds whether or not the number
  // was known, so the answer reveals nothing.
  void erase_client(std::string number, std::function<void(std::optional<AdminError>)> done);
  // The operator's view of a client: verified, restricted, rating, sessions.
  void lookup_client(std::string number, std::function<void(AdminResult<store::ClientStanding>)> done);
  void verify_client(std::string number, std::string method, std::function<void(std::optional<AdminError>)> done);
  void restrict_client(std::string number, bool restricted, std::function<void(std::optional<AdminError>)> done);
  const std::map<std::string, Package>& packages() const { return packages_; }
  std::size_t live_sessions() const { return live_.size(); }
  std::size_t connections() const { return peers_.size(); }

  // ---- SMS (design §9) ----
  // Turns proxy numbers on: SMS go out through `gateway`; client numbers
  // live in `numbers` (an arena of this thread). Call before load().
  void enable_sms(SmsGateway& gateway, crypto::KeyArena& numbers) {
    sms_ = &gateway;
    numbers_ = &numbers;
  }
  crypto::KeyArena* number_arena() const { return numbers_; }
  // A mobile-originated SMS from the gateway listener; `done` gets the answer
  // for the gateway, given only once the message is stored.
  void on_sms(InboundSms sms, std::function<void(InboundResult)> done);
  // After load(): queues what waited for the gateway when the relay stopped
  // (talents' messages to SMS clients, relay notices).
  void resume_sms();
  Metrics& metrics() { return metrics_; }

  // ---- time ----
  // Does what is due at clock.now(): expiry notices, expiry, end of grace, purges.
  void tick();
  std::optional<UnixMs> next_deadline() const;
  // Called when a deadline earlier than the current earliest is added.
  void on_deadline_change(std::function<void()> f) { deadline_changed_ = std::move(f); }

 private:
  // A token bucket: `capacity` tokens, refilled evenly over a minute.
  struct Bucket {
    double tokens = 0;
    UnixMs last = 0;
    // Takes a token when there is one; false when the bucket is empty.
    bool take(double capacity, UnixMs now);
  };
  struct Live {
    explicit Live(store::SessionRecord r) : rec(std::move(r)) {}
    store::SessionRecord rec;
    Peer* client = nullptr;
    std::int64_t reserved = 0;  // messages accepted or in flight, for the quota
    UnixMs last_activity = 0;   // for the package's idle timeout
    Bucket send_bucket[2];      // per sender (talent, client), for messages_per_minute
    std::size_t carried_digits[2] = {0, 0};  // a number split across messages, per sender
    std::string route;  // key in sms_routes_; empty without SMS
  };
  using Refusal = std::pair<proto::ErrorCode, std::string_view>;

  struct Appending;
  // What follows a stored message, with the session if still live.
  using Appended = std::function<void(Live*, std::exception_ptr, const Appending&)>;
  // A message on its way to the store: one allocation carries it there and
  // back (the job refers to it; the done owns it).
  struct Appending {
    std::string session;
    std::string send_id;
    std::string text;
    proto::Role sender{};
    bool redacted = false;
    UnixMs now{};
    Appended then;
    std::optional<store::AppendResult> result;  // set by the job
  };
  struct TalentEntry {
    std::int64_t id{};
    std::string secret_hash;
    UnixMs created_at{};
    Peer* peer = nullptr;
    std::set<std::string> sessions;
  };

  void on_hello(Peer& p, proto::Hello&& h);
  void on_send(Peer& p, proto::Send&& s);
  void on_ack(Peer& p, const proto::Ack& a);
  void on_end(Peer& p, const proto::End& e);
  void on_rate(Peer& p, const proto::Rate& r);
  void on_call(Peer& p, const proto::Call& c);
  // The session's policy on a text about to be sent: quota, rate, contact
  // guard (which may redact `text`). A refusal, or nullopt when it may go.
  std::optional<Refusal> admit(Live& s, proto::Role sender, std::string& text, bool& redacted, UnixMs now);
  // Stores a message; its `then` runs after the commit.
  void append(Live& s, std::shared_ptr<Appending> a);
  // What follows a stored message: counts, state, delivery to the other side
  // (unless it went by SMS), quota notices.
  void relay_stored(Live& s, proto::Role sender, const store::AppendResult& r, const std::string& text, bool redacted,
                    bool sent_by_sms);
  bool sms_session(const Live& s) const { return sms_ && !s.route.empty() && s.rec.client_number; }
  std::string route_key(std::string_view number, std::string_view proxy) const;
  void add_route(Live& s);
  void remove_route(Live& s);
  // Sends a talent's message to the SMS client; acknowledges it once the gateway accepted it.
  void send_sms(Live& s, std::int64_t seq, std::string text, std::function<void()> accepted);
  // A relay notice to the SMS client of `s`, kept in the store until the gateway accepts it.
  void sms_notice(Live& s, const std::string& text);
  void queue_notice(std::int64_t id, std::int64_t client, std::string proxy, std::shared_ptr<const crypto::ArenaText> to,
                    std::string text);
  void out_of_session(const std::string& key, const std::string& from, const std::string& proxy);
  bool is_stop_word(std::string_view text) const;
  // A hello refused by the login limits: rate_limited, then a 1008 close.
  void refuse_login(Peer& p, std::string_view why);
  // The end of a talent's hello after its hash: welcome, or a failure whose
  // answer may wait (LoginGuard's per-alias backoff).
  void finish_talent_hello(std::uint64_t pid, const std::string& address, const std::string& alias, bool ok);
  void fail_later(std::uint64_t pid, std::string address, UnixMs at);
  store::RestrictionRule restriction_rule() const { return {policy_.restrict_below_rating, policy_.restrict_min_ratings}; }
  bool kyc_window_now() const;
  void login_talent(Peer& p, const std::string& alias);
  void login_client(Peer& p, Live& s);
  void replay(Peer& p, std::vector<std::string> sessions);
  void fail_auth(Peer& p);
  void reply_error(Peer& p, proto::ErrorCode code, std::string_view message,
                   const std::optional<std::string>& id = std::nullopt);

  // The live session `id` when `p` may act in it; nullptr otherwise.
  Live* session_for(const Peer& p, const std::string& id);
  Peer* talent_peer(const Live& s);
  Peer* peer_for(const Live& s, proto::Role role) { return role == proto::Role::talent ? talent_peer(s) : s.client; }
  Peer* find_peer(std::uint64_t id);
  void notify_both(Live& s, const std::string& frame);
  proto::SessionView view_for(const Live& s, proto::Role role) const;

  void begin_close(Live& s, std::string_view reason);
  // Tears a session down: memory, peers, and (unless the store already did it)
  // the store.
  void close_now(const std::string& id, bool store_teardown = true);
  void set_state(Live& s, proto::SessionState state);
  void schedule(const Live& s);
  void evaluate(const std::string& id, UnixMs now);
  void submit(StoreRunner::Job job, StoreRunner::Done done = {});

  const Config& config_;
  StoreRunner& store_;
  Worker& worker_;
  const crypto::Keyring& keys_;
  const Clock& clock_;
  Metrics& metrics_;
  crypto::PasswordCost cost_;
  std::map<std::string, Package> packages_;
  Policy policy_;
  ClientAliasMode alias_mode_;
  ContactScanner scanner_;
  LoginGuard login_guard_;
  // Failed hellos whose answer waits: when, the peer, its address's slot.
  std::multimap<UnixMs, std::pair<std::uint64_t, std::string>> delayed_failures_;

  std::map<std::string, TalentEntry> talents_;
  std::unordered_map<std::string, Live> live_;
  std::unordered_map<std::string, std::string> by_token_;  // token hash → session id
  std::unordered_map<std::uint64_t, Peer*> peers_;
  std::uint64_t next_peer_id_ = 0;
  std::multimap<UnixMs, std::string> deadlines_;
  UnixMs next_purge_ = 0;
  std::function<void()> deadline_changed_;
  SmsGateway* sms_ = nullptr;
  crypto::KeyArena* numbers_ = nullptr;
  std::unordered_map<std::string, std::string> sms_routes_;  // blind index + proxy number → session id
  std::unordered_map<std::string, UnixMs> oos_replied_;      // blind index + proxy number → last reply
  std::string dummy_hash_;  // verified against for unknown aliases, so both cost the same
  std::string auth_failed_frame_;
  std::string frame_;  // each message's frames are written here, then copied out by deliver()
};

}  // namespace tirai::relay
