#pragma once
#include "crypto/secret.hpp"
#include "proto/frames.hpp"
#include "relay/calls/turn_admin.hpp"
#include "relay/core/session_core.hpp"

#include <map>
#include <string>
#include <unordered_map>

namespace tirai::relay {

// A kind of call a session can have up (in the browser, by phone): a
// session has one call at a time, whatever its kind.
class CallLine {
 public:
  virtual ~CallLine() = default;
  virtual bool in_call(const std::string& session) const = 0;
};

// Voice calls (design §11): one call at a time per session whose package has
// voice, signalled over the WebSocket, media only through the operator's
// TURN server. The relay issues each side its own TURN credential, rewrites
// every SDP and candidate so that only relay candidates cross, keeps the
// call's clocks (ring timeout, the package's call minutes), and ends the
// call with its session, cancelling its allocations in the TURN server.
//
// Relay thread only; calls are not stored (a restart ends them, and
// start() cancels whatever allocations an earlier run left behind).
class Calls final : public SessionEvents, public Timed, public CallLine {
 public:
  Calls(SessionCore& core, const Config::Calls& config, crypto::Secret turn_secret, TurnAdmin& admin);

  // Start-up: cancels the allocations of calls of an earlier run.
  void start();
  void on_call(Peer& p, proto::Call&& c);
  std::size_t active() const { return calls_.size(); }
  bool in_call(const std::string& session) const override { return by_session_.contains(session); }
  // Phone calls: a browser call into a session with one up is busy.
  void also_busy_with(const CallLine& phone) { other_ = &phone; }
  // A TURN credential of the relay's form, valid until `expires_at`.
  proto::IceServers credential(UnixMs expires_at);

  void closing(LiveSession& s) override;
  void closed(LiveSession& s) override;
  void attached(Peer& p, const std::vector<std::string>& sessions) override;
  void detached(Peer& p) override;

  void tick(UnixMs now) override;
  std::optional<UnixMs> next_deadline() const override;
  void clock_stepped(UnixMs delta) override;

 private:
  enum class State { ringing, answered };
  struct Call {
    std::string id;
    std::string session;
    proto::Role caller{};
    State state = State::ringing;
    std::uint64_t peer[2] = {0, 0};  // per role (talent, client): the connection in the call; 0: none yet
    std::string username[2];         // per role: its TURN username
    proto::IceServers ice[2];        // per role: what it was given
    UnixMs started_at = 0;
    UnixMs answered_at = 0;
    UnixMs limit_at = 0;  // answered: when the package's call minutes run out; 0: none
    bool warned = false;
  };

  void start_call(Peer& p, LiveSession& s, const std::optional<std::string>& request_id);
  void accept(Peer& p, Call& c);
  void forward_sdp(Peer& p, Call& c, proto::Call&& frame);
  void forward_candidate(Peer& p, Call& c, proto::Call&& frame);
  // Ends `c` for `reason`: both sides told, seconds counted, allocations cancelled.
  void end(const std::string& call_id, std::string_view reason);
  void end_in_session(const std::string& session, std::string_view reason);
  Peer* peer_of(const Call& c, proto::Role role);
  void deliver(const Call& c, proto::Role role, const std::string& frame);
  void schedule(UnixMs at, const std::string& call_id);

  SessionCore& core_;
  const Config::Calls& config_;
  crypto::Secret turn_secret_;
  TurnAdmin& admin_;
  const CallLine* other_ = nullptr;
  std::unordered_map<std::string, Call> calls_;           // by call id
  std::unordered_map<std::string, std::string> by_session_;  // session id → call id
  std::multimap<UnixMs, std::string> deadlines_;           // call ids; stale entries are skipped
  std::string frame_;
  // The TURN usernames this run issued (and until when) while the start-up
  // sweep waited for the TURN server: the sweep spares them. Unused after.
  std::unordered_map<std::string, UnixMs> unswept_;
  bool swept_ = false;
};

}  // namespace tirai::relay
