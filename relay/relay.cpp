#include "relay/relay.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

namespace tirai::relay {

using proto::ErrorCode;

Relay::Relay(const Config& config, StoreRunner& store, Worker& worker, const crypto::Keyring& keys,
             const Clock& clock, Metrics& metrics, crypto::PasswordCost cost)
    : keys_(keys),
      policy_(config.policy),
      core_(config, store, clock, metrics),
      connections_(core_, worker, policy_, cost),
      messaging_(core_, policy_),
      ratings_(core_, policy_),
      bookings_(core_, worker, policy_, cost) {
  core_.subscribe(connections_);
  core_.subscribe(messaging_);
  core_.subscribe(ratings_);
  core_.add_timed(connections_);
  connections_.handle<proto::Send>([this](Peer& p, proto::Send&& s) { messaging_.on_send(p, std::move(s)); });
  connections_.handle<proto::Ack>([this](Peer& p, proto::Ack&& a) { messaging_.on_ack(p, a); });
  connections_.handle<proto::End>([this](Peer& p, proto::End&& e) { core_.on_end(p, e); });
  connections_.handle<proto::Rate>([this](Peer& p, proto::Rate&& r) { ratings_.on_rate(p, r); });
  // A talent deletes her own account, her secret asked again: erased at
  // once, as the operator's removal does (her sessions end talent_removed).
  connections_.handle<proto::DeleteAccount>([this](Peer& p, proto::DeleteAccount&& d) {
    connections_.check_secret(p, d.secret, [this, alias = p.name](Peer* peer, bool right) {
      if (!right) {
        if (peer) core_.reply_error(*peer, ErrorCode::auth_failed, "the secret is wrong; nothing was deleted");
        return;
      }
      if (peer) {
        peer->deliver(proto::account_deleted_frame());
        peer->close(CloseCode::normal, "account deleted");
      }
      bookings_.remove_talent(alias, [alias](std::optional<BookingError> e) {
        if (e) spdlog::error("[session] talent {} could not be erased: {}", alias, e->message);
        else spdlog::info("[session] talent {} deleted her account", alias);
      });
    });
  });
  // Calls (design §11), once enable_calls() ran; until then a voice session hears they are off.
  connections_.handle<proto::Call>([this](Peer& p, proto::Call&& c) {
    if (calls_) return calls_->on_call(p, std::move(c));
    const LiveSession* s = core_.session_for(p, c.session);
    if (!s) return core_.reply_error(p, ErrorCode::not_in_session, "no such session", c.id);
    const auto& ch = s->rec.channels;
    if (std::find(ch.begin(), ch.end(), "voice") == ch.end())
      return core_.reply_error(p, ErrorCode::not_allowed, "this session's package has no calls", c.id);
    core_.reply_error(p, ErrorCode::not_allowed, "voice calls are not enabled on this relay", c.id);
  });
}

void Relay::enable_calls(TurnAdmin& admin, crypto::Secret turn_secret) {
  calls_.emplace(core_, core_.config().calls, std::move(turn_secret), admin);
  core_.subscribe(*calls_);
  core_.add_timed(*calls_);
  if (phone_) link_call_lines();
}

void Relay::enable_phone(SipSwitch& sip, crypto::Secret sip_secret) {
  if (!sms_) throw std::logic_error("phone calls need the proxy numbers: enable_sms first");
  phone_.emplace(core_, core_.config().phone, *sms_, sip, std::move(sip_secret));
  core_.subscribe(*phone_);
  core_.add_timed(*phone_);
  if (calls_) link_call_lines();
}

void Relay::link_call_lines() {
  phone_->also_busy_with(*calls_);
  calls_->also_busy_with(*phone_);
  phone_->use_turn([this](UnixMs expires_at) { return calls_->credential(expires_at); });
}

void Relay::enable_sms(SmsGateway& gateway, crypto::KeyArena& numbers) {
  sms_.emplace(core_, messaging_, keys_, gateway, numbers);
  core_.subscribe(*sms_);
  messaging_.set_offline_delivery(*sms_);
  bookings_.enable_proxy_numbers(numbers);
}

void Relay::set_policy(Policy policy) {
  policy_ = std::move(policy);
  connections_.policy_changed();
}

void Relay::on_sms(InboundSms sms, std::function<void(InboundResult)> done) {
  if (!sms_) {
    metrics().sms_inbound("not_found");
    return done({InboundOutcome::sms_disabled, "SMS is not enabled on this relay"});
  }
  sms_->on_sms(std::move(sms), std::move(done));
}

}  // namespace tirai::relay
