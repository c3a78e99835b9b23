#pragma once
#include "crypto/key_arena.hpp"
#include "crypto/keyring.hpp"
#include "crypto/password.hpp"
#include "relay/booking/booking.hpp"
#include "relay/calls/calls.hpp"
#include "relay/connections/connections.hpp"
#include "relay/core/session_core.hpp"
#include "relay/messaging/messaging.hpp"
#include "relay/phone/phone.hpp"
#include "relay/ratings/ratings.hpp"
#include "relay/sms/sms_relay.hpp"

#include <optional>

namespace tirai::relay {

// The relay's rooms, wired: the session core and the capabilities beside it
// (connections, messaging, ratings, booking, and SMS, calls and phone
// calls when enabled), each subscribed to the core's events. The daemon's listeners and
// the tests talk to it; a new capability is one more member and a few lines
// of wiring. Relay thread only.
class Relay {
 public:
  Relay(const Config& config, StoreRunner& store, Worker& worker, const crypto::Keyring& keys, const Clock& clock,
        Metrics& metrics, crypto::PasswordCost cost = {});

  // Turns proxy numbers on: SMS go out through `gateway`; client numbers
  // live in `numbers` (an arena of this thread). Call before load().
  void enable_sms(SmsGateway& gateway, crypto::KeyArena& numbers);
  // Turns voice calls on (calls.enabled): TURN credentials from `turn_secret`,
  // allocations cancelled through `admin`. Call before load().
  void enable_calls(TurnAdmin& admin, crypto::Secret turn_secret);
  // Turns phone calls on (phone.enabled; needs enable_sms first): calls
  // are hung up through `sip`, talents' SIP passwords made from
  // `sip_secret`. Call before load().
  void enable_phone(SipSwitch& sip, crypto::Secret sip_secret);
  // Start-up: the stored talents, live sessions and resume tickets.
  void load(std::vector<store::TalentRecord> talents, std::vector<store::SessionRecord> live,
            const std::vector<store::Store::TicketRecord>& tickets = {}) {
    core_.load(std::move(talents), std::move(live));
    connections_.load_tickets(tickets);
  }
  // SIGHUP: new bookings use the new packages; running sessions keep theirs.
  void set_packages(std::map<std::string, Package> packages) { bookings_.set_packages(std::move(packages)); }
  // SIGHUP: the new policy applies from the next frame or booking on.
  void set_policy(Policy policy);

  // A connection's life: attach, its frames, detach.
  void attach(Peer& peer) { core_.attach(peer); }
  void detach(Peer& peer) { core_.detach(peer); }
  void on_frame(Peer& peer, proto::Inbound&& frame) { connections_.on_frame(peer, std::move(frame)); }
  // Shutdown: closes every connection with 1001.
  void close_all() { core_.close_all(); }

  // An SMS from the gateway listener (answered sms_disabled without SMS).
  void on_sms(InboundSms sms, std::function<void(InboundResult)> done);

  SessionCore& core() { return core_; }
  Connections& connections() { return connections_; }
  Messaging& messaging() { return messaging_; }
  Ratings& ratings() { return ratings_; }
  Bookings& bookings() { return bookings_; }
  SmsRelay* sms() { return sms_ ? &*sms_ : nullptr; }
  Calls* calls() { return calls_ ? &*calls_ : nullptr; }
  Phone* phone() { return phone_ ? &*phone_ : nullptr; }
  Metrics& metrics() { return core_.metrics(); }

 private:
  // A session has one call at a time, in the browser or by phone.
  void link_call_lines();

  const crypto::Keyring& keys_;
  Policy policy_;  // the capabilities read it; SIGHUP replaces it
  SessionCore core_;
  Connections connections_;
  Messaging messaging_;
  Ratings ratings_;
  Bookings bookings_;
  std::optional<SmsRelay> sms_;
  std::optional<Calls> calls_;
  std::optional<Phone> phone_;
};

}  // namespace tirai::relay
