#pragma once
#include "crypto/key_arena.hpp"
#include "crypto/keyring.hpp"
#include "relay/core/session_core.hpp"
#include "relay/messaging/messaging.hpp"
#include "relay/sms/sms_gateway.hpp"

#include <functional>
#include <unordered_map>

namespace tirai::relay {

// SMS through proxy numbers (design §9): an SMS from a client's number to a
// proxy number goes to the live session of that pair, through messaging's
// admission and store; a talent's message reaches a client who is not
// connected as an SMS; relay notices (expiring, ended) go the same way;
// stop words end the session; anything else to a proxy number gets the
// out-of-session reply. Follows the core's events: a session's route exists
// from booked to closed, and nothing queued for it survives its teardown or
// its client's erasure.
class SmsRelay final : public SessionEvents, public OfflineDelivery {
 public:
  // SMS go out through `gateway`; client numbers live in `numbers` (an
  // arena of the relay thread).
  SmsRelay(SessionCore& core, Messaging& messaging, const crypto::Keyring& keys, SmsGateway& gateway,
           crypto::KeyArena& numbers);

  // A mobile-originated SMS from the gateway listener; `done` gets the answer
  // for the gateway, given only once the message is stored.
  void on_sms(InboundSms sms, std::function<void(InboundResult)> done);
  // After load(): queues what waited for the gateway when the relay stopped
  // (talents' messages to SMS clients, relay notices).
  void resume();
  // Texts the session link to the SMS client of `session` from its proxy
  // number (send_link at booking): config text with {link} replaced, queued
  // in the store's outbox like any notice. `done(true)` once it is stored;
  // false when the session has no SMS client or the store failed.
  void send_link(const std::string& session, std::string_view link, std::function<void(bool)> done);

  // The live session of the pair (caller's number, proxy number), both as a
  // carrier sends them (normalised here as SMS are); nullptr when there is
  // none, a number is not valid, or `to` is not in the pool. Phone calls
  // find their session through it.
  LiveSession* session_of(std::string_view from, std::string_view to);

  bool reaches(const LiveSession& s) const override;
  void deliver(LiveSession& s, std::int64_t seq, std::string text, std::function<void()> accepted) override;

  void booked(LiveSession& s, bool restored) override;
  void expiring(LiveSession& s, std::int64_t seconds) override;
  void closing(LiveSession& s) override;
  void closed(LiveSession& s) override;
  void client_erased(std::int64_t client) override;
  void purge(UnixMs now) override;

 private:
  std::string route_key(std::string_view number, std::string_view proxy) const;
  // A relay notice to the SMS client of `s`, kept in the store until the gateway accepts it.
  void notice(LiveSession& s, const std::string& text, std::function<void(bool)> stored = {});
  // `session`: the notice is dropped from the gateway's queue at that session's teardown.
  void queue_notice(std::int64_t id, std::int64_t client, std::string proxy,
                    std::shared_ptr<const crypto::ArenaText> to, std::string text, std::string session = {});
  void out_of_session(const std::string& key, const std::string& from, const std::string& proxy);
  bool is_stop_word(std::string_view text) const;

  SessionCore& core_;
  Messaging& messaging_;
  const crypto::Keyring& keys_;
  const SmsConfig& config_;
  SmsGateway& gateway_;
  crypto::KeyArena& numbers_;
  std::unordered_map<std::string, std::string> routes_;       // blind index + proxy number → session id
  std::unordered_map<std::string, std::string> by_session_;   // session id → its key in routes_
  std::unordered_map<std::string, UnixMs> oos_replied_;       // blind index + proxy number → last reply
};

}  // namespace tirai::relay
