#pragma once
#include "crypto/password.hpp"
#include "proto/frames.hpp"
#include "relay/connections/login_guard.hpp"
#include "relay/connections/resume_tickets.hpp"
#include "relay/core/runner.hpp"
#include "relay/core/session_core.hpp"
#include "store/store.hpp"

#include <array>
#include <functional>
#include <map>
#include <variant>

namespace tirai::relay {

// Connections and authentication (design §5): a peer's frames come here
// first. A hello is checked (a client's token, or a talent's alias and
// secret with Argon2id on the worker) under the login limits, every failure
// answered with the same bytes at the same cost; a welcome attaches the peer
// in the core. The frames of a logged-in peer go to the capability that
// handles their type.
class Connections final : public Timed, public SessionEvents {
 public:
  Connections(SessionCore& core, Worker& worker, const Policy& policy, crypto::PasswordCost cost = {});

  // What handles a frame of type `Frame` from a logged-in peer. A type
  // nobody handles is answered not_allowed.
  template <typename Frame>
  void handle(std::function<void(Peer&, Frame&&)> handler) {
    handlers_[index_of<Frame>()] = [h = std::move(handler)](Peer& p, proto::Inbound& f) {
      h(p, std::move(std::get<Frame>(f)));
    };
  }
  void on_frame(Peer& peer, proto::Inbound&& frame);
  // SIGHUP: the policy changed.
  void policy_changed() { login_guard_.set_failures_per_minute(policy_.login_attempts_per_minute); }
  // Addresses and aliases the login limits remember (for tests and metrics).
  std::size_t login_entries() const { return login_guard_.tracked(); }

  // Checks a logged-in talent's secret again (delete_account): on the
  // worker, under the login limits, failures counted and delayed as failed
  // logins are. `done` runs on the relay thread with the peer (null when she
  // is no longer connected) and the verdict; a refusal by the limits is
  // answered rate_limited instead. `secret` is wiped in place.
  void check_secret(Peer& p, std::string& secret, std::function<void(Peer*, bool)> done);
  // Start-up: the tickets the store kept.
  void load_tickets(const std::vector<store::Store::TicketRecord>& stored);
  // Resume tickets held now (for tests).
  std::size_t resume_tickets() const { return tickets_.size(); }

  void tick(UnixMs now) override;
  std::optional<UnixMs> next_deadline() const override;
  void clock_stepped(UnixMs delta) override;
  void closed(LiveSession& s) override;
  void purge(UnixMs now) override;

 private:
  template <typename Frame, std::size_t I = 0>
  static constexpr std::size_t index_of() {
    if constexpr (std::is_same_v<std::variant_alternative_t<I, proto::Inbound>, Frame>) return I;
    else return index_of<Frame, I + 1>();
  }
  void on_hello(Peer& p, proto::Hello&& h);
  // A hello refused by the login limits: rate_limited, then a 1008 close.
  void refuse_login(Peer& p, std::string_view why);
  // The end of a talent's hello after its hash: welcome, or a failure whose
  // answer may wait (LoginGuard's per-alias backoff).
  void finish_talent_hello(std::uint64_t pid, const std::string& address, const std::string& alias, bool ok);
  void fail_later(std::uint64_t pid, std::string address, UnixMs at);
  void fail_auth(Peer& p);
  // A hello with a resume ticket: welcomed as the ticket's owner, or failed
  // as any other wrong hello.
  void resume(Peer& p, proto::Hello&& h, UnixMs now);
  // `resume`: the ticket the hello carried, sent back; empty: a new one.
  void welcome_talent(Peer& p, const std::string& alias, std::string resume = {});
  void welcome_client(Peer& p, LiveSession& s, std::string resume = {});
  // A new ticket, kept here and in the store; the ticket itself is returned.
  std::string issue_ticket(const ResumeTickets::Owner& owner, UnixMs expires_at);
  void revoke_tickets(const ResumeTickets::Owner& owner);

  SessionCore& core_;
  Worker& worker_;
  const Policy& policy_;
  LoginGuard login_guard_;
  ResumeTickets tickets_;
  // Failed hellos (and wrong delete_account secrets) whose answer waits:
  // when, the peer, its address's slot, and the answer (empty: fail_auth).
  struct DelayedFailure {
    std::uint64_t pid;
    std::string address;
    std::function<void(Peer&)> answer;
  };
  std::multimap<UnixMs, DelayedFailure> delayed_failures_;
  std::string dummy_hash_;  // verified against for unknown aliases, so both cost the same
  std::string auth_failed_frame_;
  std::array<std::function<void(Peer&, proto::Inbound&)>, std::variant_size_v<proto::Inbound>> handlers_;
};

}  // namespace tirai::relay
