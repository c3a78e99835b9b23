#include "relay/sms/sms_relay.hpp"

#include "crypto/random.hpp"
#include "proto/identifiers.hpp"
#include "proto/utf8.hpp"
#include "proto/wipe.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace tirai::relay {

using proto::ErrorCode;
using proto::Role;

std::string_view InboundResult::code() const {
  switch (outcome) {
    case InboundOutcome::stored: return "stored";
    case InboundOutcome::ended: return "ended";
    case InboundOutcome::out_of_session: return "out_of_session";
    case InboundOutcome::not_delivered: return proto::to_string(refused);
    case InboundOutcome::sms_disabled: return "not_found";
    case InboundOutcome::invalid_number: return "invalid_number";
    case InboundOutcome::unknown_proxy_number: return "unknown_proxy_number";
    case InboundOutcome::invalid_text: return "invalid_text";
    case InboundOutcome::empty_text: return "empty_text";
    case InboundOutcome::too_large: return "too_large";
    case InboundOutcome::rate_limited: return "rate_limited";
    case InboundOutcome::internal: return "internal";
  }
  return "internal";
}

SmsRelay::SmsRelay(SessionCore& core, Messaging& messaging, const crypto::Keyring& keys, SmsGateway& gateway,
                   crypto::KeyArena& numbers)
    : core_(core), messaging_(messaging), keys_(keys), config_(core.config().sms), gateway_(gateway), numbers_(numbers) {}

std::string SmsRelay::route_key(std::string_view number, std::string_view proxy) const {
  return as_key(keys_.blind_index(number)) + std::string(proxy);
}

LiveSession* SmsRelay::session_of(std::string_view from, std::string_view to) {
  auto number = proto::normalise_number(from, config_.country_code);
  const proto::WipeOnExit wiped(number ? &*number : nullptr);
  const auto proxy = proto::normalise_number(to, config_.country_code);
  if (!number || !proxy) return nullptr;
  if (std::find(config_.proxy_numbers.begin(), config_.proxy_numbers.end(), *proxy) == config_.proxy_numbers.end())
    return nullptr;
  auto route = routes_.find(route_key(*number, *proxy));
  return route == routes_.end() ? nullptr : core_.find(route->second);
}

// ---------------------------------------------------------------- lifecycle

void SmsRelay::booked(LiveSession& s, bool) {
  if (s.rec.proxy_number.empty() || !s.rec.client_number) return;
  auto key = route_key(s.rec.client_number->view(), s.rec.proxy_number);
  routes_[key] = s.rec.id;
  by_session_[s.rec.id] = std::move(key);
  core_.metrics().proxy_sessions(s.rec.proxy_number, 1);
}

void SmsRelay::closed(LiveSession& s) {
  auto it = by_session_.find(s.rec.id);
  if (it == by_session_.end()) return;
  if (auto r = routes_.find(it->second); r != routes_.end() && r->second == s.rec.id) routes_.erase(r);
  by_session_.erase(it);
  core_.metrics().proxy_sessions(s.rec.proxy_number, -1);
  gateway_.drop_session(s.rec.id);
}

void SmsRelay::closing(LiveSession& s) { notice(s, config_.ended_notice); }

void SmsRelay::expiring(LiveSession& s, std::int64_t seconds) {
  std::string text = config_.expiry_notice;
  for (auto at = text.find("{minutes}"); at != std::string::npos; at = text.find("{minutes}"))
    text.replace(at, 9, std::to_string((seconds + 59) / 60));
  notice(s, text);
}

void SmsRelay::client_erased(std::int64_t client) { gateway_.drop_client(client); }

void SmsRelay::purge(UnixMs now) {
  std::erase_if(oos_replied_, [&](const auto& kv) { return now - kv.second >= config_.out_of_session_interval.count(); });
}

// ---------------------------------------------------------------- outbound

bool SmsRelay::reaches(const LiveSession& s) const { return by_session_.count(s.rec.id) && s.rec.client_number; }

void SmsRelay::deliver(LiveSession& s, std::int64_t seq, std::string text, std::function<void()> accepted) {
  gateway_.send(OutboundSms{s.rec.proxy_number, s.rec.client_number, std::move(text), s.rec.id, s.rec.client_id,
                            [this, session = s.rec.id, seq, accepted = std::move(accepted)] {
                              // The body is cleared as if the client had acknowledged it.
                              core_.submit([session, seq](store::Store& st) { st.ack(session, Role::client, seq); });
                              if (accepted) accepted();
                            }});
}

void SmsRelay::notice(LiveSession& s, const std::string& text, std::function<void(bool)> stored) {
  if (!reaches(s) || s.client || text.empty()) {
    if (stored) stored(false);
    return;
  }
  // A notice with a done (the link) dies with its session; the others (the
  // ended notice) are sent after it.
  std::string session = stored ? s.rec.id : std::string();
  auto id = std::make_shared<std::int64_t>(0);
  auto body = std::make_shared<std::string>(text);
  core_.submit([id, client = s.rec.client_id, proxy = s.rec.proxy_number, body, session,
                now = core_.clock().now()](store::Store& st) {
                 *id = st.add_sms_notice(client, proxy, *body, now, session);
               },
               [this, id, client = s.rec.client_id, proxy = s.rec.proxy_number, to = s.rec.client_number, body,
                session, stored = std::move(stored)](std::exception_ptr e) {
                 if (e) spdlog::error("[sms] a notice could not be stored: {}", describe(e));
                 // Not stored when the client was erased first: nothing is queued for them any more.
                 else if (*id != 0) queue_notice(*id, client, proxy, to, *body, session);
                 proto::wipe(*body);
                 if (stored) stored(!e && *id != 0);
               });
}

void SmsRelay::send_link(const std::string& session, std::string_view link, std::function<void(bool)> done) {
  LiveSession* s = core_.find(session);
  if (!s) return done(false);
  std::string text = config_.link_notice;
  for (auto at = text.find("{link}"); at != std::string::npos; at = text.find("{link}", at + link.size()))
    text.replace(at, 6, link);
  notice(*s, text, std::move(done));
  proto::wipe(text);
}

void SmsRelay::queue_notice(std::int64_t id, std::int64_t client, std::string proxy,
                            std::shared_ptr<const crypto::ArenaText> to, std::string text, std::string session) {
  gateway_.send(OutboundSms{std::move(proxy), std::move(to), std::move(text), std::move(session), client, [this, id] {
                              core_.submit([id](store::Store& st) { st.remove_sms_notice(id); });
                            }});
}

void SmsRelay::resume() {
  std::vector<std::string> ids;
  for (const auto& [id, s] : core_.live())
    if (reaches(s)) ids.push_back(id);
  // Dones run in submission order: the messages are queued before the notices.
  auto queued = std::make_shared<std::size_t>(0);
  messaging_.read_pending(std::move(ids), Role::client, [this, queued](std::exception_ptr e, auto& messages) {
    if (e) return spdlog::error("[sms] the SMS queue could not be read: {}", describe(e));
    for (auto& m : messages) {
      LiveSession* s = core_.find(m.session);
      if (!s || s->client) continue;
      deliver(*s, m.seq, std::move(m.text), {});
      ++*queued;
    }
  });
  auto notices = std::make_shared<std::vector<std::pair<store::SmsNotice, std::string>>>();
  core_.submit(
      [notices](store::Store& st) {
        notices->clear();  // a job may run twice (StoreWorker)
        std::size_t unreadable = 0;
        for (auto& n : st.sms_notices(&unreadable))
          if (auto number = st.client_number(n.client_id)) notices->emplace_back(std::move(n), std::move(*number));
        if (unreadable) spdlog::error("[sms] {} queued notices do not open under their client's key: left out", unreadable);
      },
      [this, notices, queued](std::exception_ptr e) {
        if (e) return spdlog::error("[sms] the SMS queue could not be read: {}", describe(e));
        for (auto& [n, number] : *notices)
          queue_notice(n.id, n.client_id, n.proxy_number, std::make_shared<const crypto::ArenaText>(numbers_, number),
                       n.text, n.session);
        spdlog::info("[sms] resumed {} messages and {} notices for the gateway", *queued, notices->size());
      });
}

// ---------------------------------------------------------------- inbound

bool SmsRelay::is_stop_word(std::string_view text) const {
  const auto first = text.find_first_not_of(" \t\r\n.!");
  if (first == std::string_view::npos) return false;
  const auto last = text.find_last_not_of(" \t\r\n.!");
  const auto word = text.substr(first, last - first + 1);
  const auto lower = [](unsigned char c) { return static_cast<char>(std::tolower(c)); };
  return std::any_of(config_.stop_words.begin(), config_.stop_words.end(), [&](const std::string& w) {
    return w.size() == word.size() &&
           std::equal(w.begin(), w.end(), word.begin(), [&](char a, char b) { return lower(a) == lower(b); });
  });
}

void SmsRelay::out_of_session(const std::string& key, const std::string& from, const std::string& proxy) {
  core_.metrics().sms_out_of_session->Increment();
  spdlog::info("[sms] an SMS to {} from a number without a live session there was not delivered", proxy);
  const auto& reply = config_.out_of_session_reply;
  if (reply.empty()) return;
  const UnixMs now = core_.clock().now();
  auto [it, fresh] = oos_replied_.try_emplace(key, now);
  if (!fresh && now - it->second < config_.out_of_session_interval.count()) return;
  it->second = now;
  core_.metrics().sms_out_of_session_replies->Increment();
  gateway_.send(OutboundSms{proxy, std::make_shared<const crypto::ArenaText>(numbers_, from), reply, "", 0, {}});
}

void SmsRelay::on_sms(InboundSms in, std::function<void(InboundResult)> done) {
  const auto& cfg = config_;
  auto& metrics = core_.metrics();
  const auto answer = [&](InboundResult r) {
    metrics.sms_inbound(r.code());
    done(std::move(r));
  };
  const auto refuse = [&](InboundOutcome outcome, std::string message) {
    InboundResult r{outcome, std::move(message)};
    spdlog::warn("[sms] refused an inbound SMS ({}): {}", r.code(), r.message);
    answer(std::move(r));
  };
  auto from = proto::normalise_number(in.from, cfg.country_code);
  // The client's number, as sent and normalised, is wiped whichever answer goes.
  const proto::WipeOnExit wiped(&in.from, from ? &*from : nullptr);
  if (!from) return refuse(InboundOutcome::invalid_number, "the sender (from) is not a valid phone number");
  const auto to = proto::normalise_number(in.to, cfg.country_code);
  if (!to) return refuse(InboundOutcome::invalid_number, "the receiver (to) is not a valid phone number");
  if (std::find(cfg.proxy_numbers.begin(), cfg.proxy_numbers.end(), *to) == cfg.proxy_numbers.end())
    return refuse(InboundOutcome::unknown_proxy_number, "the receiver (to) is not a proxy number of this relay");
  const auto chars = proto::utf8_length(in.text);
  if (!chars) return refuse(InboundOutcome::invalid_text, "the text is not valid UTF-8");
  if (in.text.find_first_not_of(" \t\r\n") == std::string::npos)
    return refuse(InboundOutcome::empty_text, "the text is empty");
  if (*chars > cfg.max_text_chars)
    return refuse(InboundOutcome::too_large, fmt::format("the text is over sms.max_text_chars ({})", cfg.max_text_chars));

  const auto key = route_key(*from, *to);
  auto route = routes_.find(key);
  if (route == routes_.end()) {
    out_of_session(key, *from, *to);
    return answer({InboundOutcome::out_of_session, "not delivered: no live session for this sender and number"});
  }
  LiveSession& s = *core_.find(route->second);
  if (is_stop_word(in.text)) {
    spdlog::info("[sms] the client of session {} sent a stop word", s.rec.id);
    core_.begin_close(s, "ended_by_client");
    // Answered once what begin_close stored has committed.
    return core_.submit([](store::Store&) {}, [&metrics, done = std::move(done)](std::exception_ptr e) {
      if (e) return done({InboundOutcome::internal, "the session could not be ended"});
      InboundResult r{InboundOutcome::ended, "the session is ending"};
      metrics.sms_inbound(r.code());
      done(std::move(r));
    });
  }
  const UnixMs now = core_.clock().now();
  bool redacted = false;
  if (auto refusal = messaging_.admit(s, Role::client, in.text, redacted, now)) {
    if (refusal->first == ErrorCode::rate_limited)
      return refuse(InboundOutcome::rate_limited, std::string(refusal->second));
    if (refusal->first == ErrorCode::contact_details_blocked && !cfg.blocked_notice.empty())
      gateway_.send(OutboundSms{s.rec.proxy_number, s.rec.client_number, cfg.blocked_notice, s.rec.id, s.rec.client_id, {}});
    // Deliberately not delivered: a retry would be refused again.
    return answer({InboundOutcome::not_delivered, std::string(refusal->second), refusal->first});
  }
  // Kannel's id makes a retried request store nothing twice.
  std::string send_id = !in.gateway_id.empty() && in.gateway_id.size() <= 56 ? "kannel:" + in.gateway_id
                                                                             : "sms:" + crypto::new_token().substr(0, 24);
  auto a = std::make_shared<Messaging::Appending>();
  a->session = s.rec.id;
  a->send_id = std::move(send_id);
  a->text = std::move(in.text);
  a->sender = Role::client;
  a->redacted = redacted;
  a->now = now;
  a->then = [this, done = std::move(done)](LiveSession* s, std::exception_ptr e, const Messaging::Appending& a) {
    auto& metrics = core_.metrics();
    const auto& result = a.result;
    if (e) {
      spdlog::error("[sms] an inbound SMS could not be stored: {}", describe(e));
      return done({InboundOutcome::internal, "the message could not be stored"});
    }
    if (!result) {
      metrics.sms_inbound("out_of_session");
      return done({InboundOutcome::out_of_session, "not delivered: the session has ended"});
    }
    metrics.sms_inbound("stored");
    done({InboundOutcome::stored, "stored for delivery"});
    if (result->duplicate || !s) return;
    spdlog::info("[sms] an SMS from the client of session {} was stored", s->rec.id);
    messaging_.relay_stored(*s, Role::client, *result, a.text, a.redacted, false);
  };
  messaging_.append(s, std::move(a));
}

}  // namespace tirai::relay
