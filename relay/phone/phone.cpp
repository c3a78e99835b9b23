#include "relay/phone/phone.hpp"

#include "crypto/turn_credential.hpp"
#include "proto/identifiers.hpp"
#include "proto/wipe.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace tirai::relay {

namespace {

// The one refusal: no session, a torn-down one, a chat-only one, an unknown
// proxy number or caller all look alike to the caller.
SeamAnswer refused() { return {404, ""}; }

bool has_voice(const LiveSession& s) {
  const auto& ch = s.rec.channels;
  return std::find(ch.begin(), ch.end(), "voice") != ch.end();
}

}  // namespace

bool valid_dialog_ref(std::string_view dialog) {
  const auto colon = dialog.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == dialog.size() || dialog.size() > 24) return false;
  const auto digits = [](std::string_view d) {
    return std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  return digits(dialog.substr(0, colon)) && digits(dialog.substr(colon + 1));
}

Phone::Phone(SessionCore& core, const Config::Phone& config, SmsRelay& sms, SipSwitch& sip, crypto::Secret sip_secret)
    : core_(core), config_(config), sms_(sms), sip_(sip), sip_secret_(std::move(sip_secret)) {}

void Phone::attached(Peer& p, const std::vector<std::string>&) {
  if (p.role != proto::Role::talent || config_.sip_ws_urls.empty()) return;
  proto::SipAccess a;
  a.ws_urls = config_.sip_ws_urls;
  a.domain = config_.sip_domain;
  a.expires_at = core_.clock().now() + config_.sip_credential_ttl.count();
  a.username = fmt::format("{}:{}", a.expires_at / 1000, p.name);
  a.password = crypto::turn_password(sip_secret_, a.username);
  if (turn_) a.ice = turn_(a.expires_at);
  auto frame = proto::phone_access_frame(a);
  p.deliver(frame);
  proto::wipe(frame);
  proto::wipe(a.password);
}

const char* Phone::unavailable(const LiveSession& s) const {
  if (s.rec.state == proto::SessionState::closing) return "the session is ending";
  if (!has_voice(s)) return "the session's package has no calls";
  if (s.rec.call_minutes > 0 && s.rec.call_seconds >= s.rec.call_minutes * 60) return "the call minutes are used up";
  return nullptr;
}

std::int64_t Phone::allowance(const LiveSession& s, UnixMs now) const {
  std::int64_t seconds = std::max<std::int64_t>((s.rec.expires_at - now) / 1000, 0);
  if (s.rec.call_minutes > 0) seconds = std::min(seconds, s.rec.call_minutes * 60 - s.rec.call_seconds);
  return std::max<std::int64_t>(seconds, 0);
}

SeamAnswer Phone::inbound(std::string_view from, std::string_view to, std::string_view dialog,
                          std::string_view transaction) {
  auto& metrics = core_.metrics();
  if (!valid_dialog_ref(dialog) || calls_.contains(std::string(dialog)) ||
      (!transaction.empty() && !valid_dialog_ref(transaction))) {
    metrics.phone_decision("inbound", "refused");
    return {400, ""};
  }
  LiveSession* s = sms_.session_of(from, to);
  // No line names the caller's number: the proxy number only, and the session when there is one.
  if (!s) {
    spdlog::info("[phone] a call to a proxy number from a number without a live session there was refused");
    metrics.phone_decision("inbound", "refused");
    return refused();
  }
  if (const char* why = unavailable(*s)) {
    spdlog::info("[phone] a call into {} via {} was refused: {}", s->rec.id, s->rec.proxy_number, why);
    metrics.phone_decision("inbound", "refused");
    return refused();
  }
  core_.client_contacted(*s);
  const UnixMs now = core_.clock().now();
  return admit(*s, dialog, transaction, true,
               fmt::format("{},{},{},{}", s->rec.talent_alias, s->rec.client_alias, s->rec.id, allowance(*s, now)));
}

SeamAnswer Phone::outbound(std::string_view talent, std::string_view session, std::string_view dialog,
                           std::string_view transaction) {
  auto& metrics = core_.metrics();
  if (!valid_dialog_ref(dialog) || calls_.contains(std::string(dialog)) ||
      (!transaction.empty() && !valid_dialog_ref(transaction))) {
    metrics.phone_decision("outbound", "refused");
    return {400, ""};
  }
  LiveSession* s = core_.find(std::string(session));
  const char* why = nullptr;
  if (!s || s->rec.talent_alias != talent) why = "no such session of this talent";
  else if (s->rec.proxy_number.empty() || !s->rec.client_number) why = "the client has no phone number";
  else if (s->rec.client_first && !s->rec.client_contacted) why = "in this package the client makes the first contact";
  else why = unavailable(*s);
  if (why) {
    spdlog::info("[phone] a call back by a talent was refused: {}", why);
    metrics.phone_decision("outbound", "refused");
    return refused();
  }
  const UnixMs now = core_.clock().now();
  return admit(*s, dialog, transaction, false,
               fmt::format("{},{},{}", s->rec.client_number->view(), s->rec.proxy_number, allowance(*s, now)));
}

SeamAnswer Phone::admit(LiveSession& s, std::string_view dialog, std::string_view transaction, bool inbound,
                        std::string body) {
  auto& metrics = core_.metrics();
  const char* direction = inbound ? "inbound" : "outbound";
  if (by_session_.contains(s.rec.id) || (browser_ && browser_->in_call(s.rec.id))) {
    spdlog::info("[phone] an {} call in {} was busy: a call is up there", direction, s.rec.id);
    metrics.phone_decision(direction, "busy");
    proto::wipe(body);
    return {486, ""};
  }
  const UnixMs now = core_.clock().now();
  Call c;
  c.dialog = std::string(dialog);
  c.transaction = std::string(transaction);
  c.session = s.rec.id;
  c.inbound = inbound;
  c.started_at = now;
  calls_.emplace(c.dialog, c);
  by_session_[s.rec.id] = c.dialog;
  if (!swept_) unswept_.insert(c.dialog);
  deadlines_.emplace(now + config_.ring_timeout.count(), c.dialog);
  core_.deadline_added(now + config_.ring_timeout.count());
  if (reconcile_at_ == 0) {
    reconcile_at_ = now + config_.reconcile_interval.count();
    core_.deadline_added(reconcile_at_);
  }
  metrics.phone_decision(direction, "ring");
  metrics.phone_calls_active->Increment();
  spdlog::info("[phone] {} call {} in {} via {} rings", direction, c.dialog, s.rec.id, s.rec.proxy_number);
  return {200, std::move(body)};
}

SeamAnswer Phone::event(std::string_view dialog, std::string_view what) {
  auto it = calls_.find(std::string(dialog));
  if (it == calls_.end()) {
    // As for a call tiraid hung up itself: Kamailio's report comes after.
    spdlog::debug("[phone] Kamailio reports call {} {}: not a call here (any more)", dialog, what);
    return {404, ""};
  }
  Call& c = it->second;
  if (what == "ended") {
    end(c.dialog, c.state == State::answered ? "hangup" : "not_answered", false);
    return {200, ""};
  }
  if (what != "answered") return {400, ""};
  if (c.state == State::answered) return {200, ""};
  LiveSession* s = core_.find(c.session);
  if (!s) {
    end(c.dialog, "session_closed", true);
    return {200, ""};
  }
  const UnixMs now = core_.clock().now();
  c.state = State::answered;
  c.answered_at = now;
  core_.hold(*s, true);
  if (s->rec.call_minutes > 0) {
    c.limit_at = now + std::max<UnixMs>(s->rec.call_minutes * 60'000 - s->rec.call_seconds * 1000, 0);
    deadlines_.emplace(c.limit_at, c.dialog);
    core_.deadline_added(c.limit_at);
  }
  // The phone's equivalent of the console's notice: a tone one minute before
  // the call must end (its call minutes, or its session's time; a second
  // after the answer when less is left: the media is set up by then).
  const UnixMs end_at = c.limit_at != 0 ? std::min(c.limit_at, s->rec.expires_at) : s->rec.expires_at;
  c.tone_at = std::max(end_at - 60'000, now + 1'000);
  deadlines_.emplace(c.tone_at, c.dialog);
  core_.deadline_added(c.tone_at);
  spdlog::info("[phone] call {} in {} answered", c.dialog, c.session);
  return {200, ""};
}

void Phone::end(std::string dialog, std::string_view reason, bool hang_up) {
  auto it = calls_.find(dialog);
  if (it == calls_.end()) return;
  Call c = std::move(it->second);
  calls_.erase(it);
  if (auto b = by_session_.find(c.session); b != by_session_.end() && b->second == dialog) by_session_.erase(b);
  const UnixMs now = core_.clock().now();
  const std::int64_t seconds = c.state == State::answered ? (now - c.answered_at) / 1000 : 0;
  if (LiveSession* s = core_.find(c.session); s && c.state == State::answered) core_.answered_call_ended(*s, seconds);
  auto& metrics = core_.metrics();
  metrics.phone_calls_active->Decrement();
  metrics.phone_call_ended(reason);
  if (seconds > 0) metrics.phone_call_seconds->Increment(static_cast<double>(seconds));
  spdlog::info("[phone] call {} in {} ended ({}, {} s)", dialog, c.session, reason, seconds);
  if (!hang_up) return;
  sip_.hang_up(dialog, c.state == State::ringing ? c.transaction : std::string(), [&metrics, dialog](bool ok) {
    if (ok) return;
    metrics.sip_failures->Increment();
    spdlog::warn("[phone] Kamailio did not hang up call {}: rtpengine's timeouts end its media", dialog);
  });
}

void Phone::play_tone(Call& c) {
  c.tone_at = 0;
  auto& metrics = core_.metrics();
  spdlog::info("[phone] call {} in {}: one minute left, a tone to the phone", c.dialog, c.session);
  sip_.play_tone(c.dialog, [&metrics, dialog = c.dialog](bool ok) {
    if (ok) {
      metrics.phone_tones_played->Increment();
      return spdlog::debug("[phone] the one-minute tone of call {} was played", dialog);
    }
    metrics.phone_tones_failed->Increment();
    spdlog::warn("[phone] the one-minute tone of call {} could not be played", dialog);
  });
}

void Phone::start() {
  sip_.hang_up_all([this](const std::string& dialog) { return unswept_.contains(dialog); },
                   [this](std::optional<int> n) {
                     swept_ = true;
                     unswept_.clear();
                     if (!n) {  // tiraid stopped before Kamailio answered
                       core_.metrics().sip_failures->Increment();
                       return spdlog::warn("[phone] Kamailio could not be asked to hang up the calls of an earlier run");
                     }
                     if (*n) spdlog::info("[phone] hung up {} phone calls left from before the restart", *n);
                   });
}

void Phone::hang_up_all() {
  std::vector<std::string> dialogs;
  for (const auto& [d, c] : calls_) dialogs.push_back(d);
  for (const auto& d : dialogs) end(d, "shutdown", true);
}

void Phone::closing(LiveSession& s) {
  if (auto it = by_session_.find(s.rec.id); it != by_session_.end()) end(std::string(it->second), "session_closed", true);
}

void Phone::closed(LiveSession& s) { closing(s); }

void Phone::reconcile(UnixMs now) {
  if (calls_.empty()) {
    reconcile_at_ = 0;
    return;
  }
  reconcile_at_ = now + config_.reconcile_interval.count();
  core_.deadline_added(reconcile_at_);
  if (reconciling_) return;  // the last question is not answered yet
  reconciling_ = true;
  std::vector<std::string> asked;
  for (const auto& [d, c] : calls_) asked.push_back(d);
  sip_.list_dialogs([this, alive = std::weak_ptr<bool>(alive_), asked = std::move(asked)](
                        std::optional<std::vector<std::string>> has) {
    if (alive.expired()) return;
    reconciling_ = false;
    if (!has) return;  // Kamailio's JSON-RPC logs that it cannot be asked, once
    const std::set<std::string> still(has->begin(), has->end());
    const auto kept = std::count_if(asked.begin(), asked.end(), [&](const auto& d) { return still.contains(d); });
    spdlog::debug("[phone] Kamailio still has {} of the {} calls up here", kept, asked.size());
    for (const auto& d : asked) {
      auto it = calls_.find(d);
      if (it == calls_.end() || still.contains(d)) continue;
      spdlog::warn("[phone] Kamailio no longer has call {} in {}: its end was never reported; ended here", d,
                   it->second.session);
      end(d, "lost", false);
    }
  });
}

void Phone::tick(UnixMs now) {
  if (reconcile_at_ != 0 && reconcile_at_ <= now) reconcile(now);
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const auto [at, dialog] = *deadlines_.begin();
    deadlines_.erase(deadlines_.begin());
    auto it = calls_.find(dialog);
    if (it == calls_.end()) continue;
    Call& c = it->second;
    if (c.state == State::ringing && at >= c.started_at + config_.ring_timeout.count())
      end(dialog, "no_answer", true);
    else if (c.state == State::answered && c.limit_at != 0 && at == c.limit_at)
      end(dialog, "limit", true);
    else if (c.state == State::answered && c.tone_at != 0 && at == c.tone_at)
      play_tone(c);
  }
}

void Phone::clock_stepped(UnixMs delta) {
  for (auto& [dialog, c] : calls_) {
    c.started_at += delta;
    if (c.answered_at) c.answered_at += delta;
    if (c.limit_at) c.limit_at += delta;
    if (c.tone_at) c.tone_at += delta;
  }
  // tick() tells a deadline's kind by comparing it with these times: they move together.
  shift_keys(deadlines_, delta);
  if (reconcile_at_) reconcile_at_ += delta;
}

std::optional<UnixMs> Phone::next_deadline() const {
  std::optional<UnixMs> next;
  if (!deadlines_.empty()) next = deadlines_.begin()->first;
  if (reconcile_at_ != 0 && (!next || reconcile_at_ < *next)) next = reconcile_at_;
  return next;
}

}  // namespace tirai::relay
