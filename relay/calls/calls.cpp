#include "relay/calls/calls.hpp"

#include "crypto/random.hpp"
#include "crypto/turn_credential.hpp"
#include "proto/sdp.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace tirai::relay {

using proto::CallAction;
using proto::ErrorCode;
using proto::Role;

namespace {
Role other(Role r) { return r == Role::talent ? Role::client : Role::talent; }
std::size_t side(Role r) { return static_cast<std::size_t>(r); }
constexpr UnixMs warn_before_limit_ms = 60'000;
}  // namespace

Calls::Calls(SessionCore& core, const Config::Calls& config, crypto::Secret turn_secret, TurnAdmin& admin)
    : core_(core), config_(config), turn_secret_(std::move(turn_secret)), admin_(admin) {}

void Calls::start() {
  if (!config_.enabled) return;
  admin_.cancel_all([this](const std::string& username) { return unswept_.contains(username); },
                    [this](std::optional<int> n) {
                      swept_ = true;
                      unswept_.clear();
                      if (n && *n) spdlog::info("[calls] cancelled {} TURN allocations left from before the restart", *n);
                    });
}

void Calls::on_call(Peer& p, proto::Call&& c) {
  LiveSession* s = core_.session_for(p, c.session);
  if (!s) return core_.reply_error(p, ErrorCode::not_in_session, "no such session", c.id);
  if (c.action == CallAction::start) return start_call(p, *s, c.id);
  auto it = calls_.find(c.call);
  if (it == calls_.end() || it->second.session != s->rec.id)
    return core_.reply_error(p, ErrorCode::not_in_session, "no such call");
  Call& call = it->second;
  const bool callee = p.role != call.caller;
  switch (c.action) {
    case CallAction::accept:
    case CallAction::decline:
      if (!callee || call.state != State::ringing)
        return core_.reply_error(p, ErrorCode::not_allowed, "only the side called can answer, while it rings");
      if (c.action == CallAction::accept) return accept(p, call);
      return end(call.id, "declined");
    case CallAction::hangup:
      return end(call.id, c.failed ? "failed" : (callee && call.state == State::ringing ? "declined" : "hangup"));
    case CallAction::sdp: return forward_sdp(p, call, std::move(c));
    case CallAction::candidate: return forward_candidate(p, call, std::move(c));
    case CallAction::start: break;
  }
}

void Calls::start_call(Peer& p, LiveSession& s, const std::optional<std::string>& request_id) {
  const auto refuse = [&](ErrorCode code, std::string_view why) { core_.reply_error(p, code, why, request_id); };
  const auto& ch = s.rec.channels;
  if (std::find(ch.begin(), ch.end(), "voice") == ch.end())
    return refuse(ErrorCode::not_allowed, "this session's package has no calls");
  if (!config_.enabled) return refuse(ErrorCode::not_allowed, "voice calls are not enabled on this relay");
  if (s.rec.state == proto::SessionState::closing) return refuse(ErrorCode::session_closed, "the session is ending");
  if (p.role == Role::talent && s.rec.client_first && !s.rec.client_contacted)
    return refuse(ErrorCode::not_allowed, "in this package the client makes the first contact");
  if (by_session_.contains(s.rec.id) || (other_ && other_->in_call(s.rec.id))) return refuse(ErrorCode::busy, "a call is already up in this session");
  if (s.rec.call_minutes > 0 && s.rec.call_seconds >= s.rec.call_minutes * 60)
    return refuse(ErrorCode::quota_exhausted, "the package's call minutes are used up");
  if (p.role == Role::client) core_.client_contacted(s);

  const UnixMs now = core_.clock().now();
  Call c;
  c.id = "c_" + crypto::base32_lower(crypto::random_bytes(16));
  c.session = s.rec.id;
  c.caller = p.role;
  c.peer[side(p.role)] = p.id;
  c.started_at = now;
  // Each side's credential dies with the session (its end and the grace
  // after it); the call's end cancels the allocations before that.
  const UnixMs expires = s.rec.expires_at + core_.config().sessions.grace.count();
  for (Role r : {Role::talent, Role::client}) {
    c.ice[side(r)] = credential(expires);
    c.username[side(r)] = c.ice[side(r)].username;
  }
  const std::string id = c.id;
  auto& call = calls_.emplace(id, std::move(c)).first->second;
  by_session_[s.rec.id] = id;
  core_.metrics().calls_started->Increment();
  core_.metrics().calls_active->Increment();
  spdlog::info("[calls] {} in {} started by the {}", id, s.rec.id, proto::to_string(p.role));

  p.deliver(proto::call_started_frame(s.rec.id, id, request_id, call.ice[side(p.role)]));
  const Role callee = other(p.role);
  Peer* to = core_.peer_for(s, callee);
  if (!to) return end(id, "peer_gone");
  const std::string& from = p.role == Role::talent ? s.rec.talent_alias : s.rec.client_alias;
  to->deliver(proto::call_ringing_frame(s.rec.id, id, from, call.ice[side(callee)]));
  schedule(now + config_.ring_timeout.count(), id);
  // Rung at once; a TURN server that does not answer ends the call failed
  // (the session and its chat go on).
  admin_.check([this, id](bool ok) {
    if (ok) return;
    core_.metrics().turn_failures->Increment();
    end(id, "failed");
  });
}

void Calls::accept(Peer& p, Call& c) {
  const UnixMs now = core_.clock().now();
  c.state = State::answered;
  c.answered_at = now;
  c.peer[side(p.role)] = p.id;
  core_.metrics().calls_answered->Increment();
  // A call is the session in use: the package's idle timeout waits for its end.
  if (LiveSession* s = core_.find(c.session)) core_.hold(*s, true);
  if (const LiveSession* s = core_.find(c.session); s && s->rec.call_minutes > 0) {
    const UnixMs left = s->rec.call_minutes * 60'000 - s->rec.call_seconds * 1000;
    c.limit_at = now + std::max<UnixMs>(left, 0);
    schedule(std::max(now, c.limit_at - warn_before_limit_ms), c.id);
    schedule(c.limit_at, c.id);
  }
  deliver(c, c.caller, proto::call_accepted_frame(c.session, c.id));
}

void Calls::forward_sdp(Peer& p, Call& c, proto::Call&& frame) {
  if (c.state != State::answered) return core_.reply_error(p, ErrorCode::not_allowed, "the call is not answered yet");
  if (c.peer[side(p.role)] != p.id) return core_.reply_error(p, ErrorCode::not_allowed, "this connection is not in the call");
  std::string why;
  proto::SdpFilterCounts counts;
  auto sdp = proto::filter_sdp(frame.sdp, config_.relay_addresses, why, &counts);
  if (!sdp) return core_.reply_error(p, ErrorCode::bad_request, why);
  if (counts.dropped) core_.metrics().call_candidates_dropped->Increment(counts.dropped);
  deliver(c, other(p.role), proto::call_sdp_frame(c.session, c.id, frame.sdp_type, *sdp));
}

void Calls::forward_candidate(Peer& p, Call& c, proto::Call&& frame) {
  if (c.state != State::answered) return core_.reply_error(p, ErrorCode::not_allowed, "the call is not answered yet");
  if (c.peer[side(p.role)] != p.id) return core_.reply_error(p, ErrorCode::not_allowed, "this connection is not in the call");
  auto& cand = frame.candidate;
  if (!cand.candidate.empty()) {  // "" ends the candidates: nothing to filter
    std::string out;
    switch (proto::filter_candidate(cand.candidate, config_.relay_addresses, out)) {
      case proto::CandidateVerdict::malformed:
        return core_.reply_error(p, ErrorCode::bad_request, "the candidate is malformed");
      case proto::CandidateVerdict::dropped:
        core_.metrics().call_candidates_dropped->Increment();
        return;
      case proto::CandidateVerdict::relay: cand.candidate = std::move(out); break;
    }
  }
  deliver(c, other(p.role), proto::call_candidate_frame(c.session, c.id, cand));
}

void Calls::end(const std::string& call_id, std::string_view reason) {
  auto node = calls_.extract(call_id);
  if (node.empty()) return;
  Call& c = node.mapped();
  by_session_.erase(c.session);
  for (UnixMs at : {c.started_at + config_.ring_timeout.count(), c.limit_at - warn_before_limit_ms, c.limit_at}) {
    auto [first, last] = deadlines_.equal_range(at);
    for (auto it = first; it != last;) it = it->second == call_id ? deadlines_.erase(it) : std::next(it);
  }
  const UnixMs now = core_.clock().now();
  const std::int64_t seconds = c.state == State::answered ? (now - c.answered_at) / 1000 : 0;
  if (LiveSession* s = core_.find(c.session); s && c.state == State::answered) core_.answered_call_ended(*s, seconds);
  const auto frame = proto::call_ended_frame(c.session, c.id, reason, seconds);
  deliver(c, Role::talent, frame);
  deliver(c, Role::client, frame);
  auto& m = core_.metrics();
  m.call_ended(reason);
  m.call_seconds->Increment(static_cast<double>(seconds));
  m.calls_active->Decrement();
  spdlog::info("[calls] {} in {} ended ({}, {} s)", c.id, c.session, reason, seconds);
  admin_.cancel({c.username[0], c.username[1]}, [&m](std::optional<int> n) {
    if (n) m.turn_allocations_cancelled->Increment(*n);
    else m.turn_failures->Increment();
  });
}

void Calls::end_in_session(const std::string& session, std::string_view reason) {
  if (auto it = by_session_.find(session); it != by_session_.end()) end(std::string(it->second), reason);
}

void Calls::closing(LiveSession& s) { end_in_session(s.rec.id, "session_closed"); }

void Calls::closed(LiveSession& s) { end_in_session(s.rec.id, "session_closed"); }

void Calls::attached(Peer& p, const std::vector<std::string>& sessions) {
  // A console that reconnected while it was being called rings again.
  for (const auto& id : sessions) {
    auto it = by_session_.find(id);
    if (it == by_session_.end()) continue;
    const Call& c = calls_.at(it->second);
    if (c.state != State::ringing || c.caller == p.role) continue;
    const LiveSession* s = core_.find(id);
    if (!s) continue;
    const std::string& from = c.caller == Role::talent ? s->rec.talent_alias : s->rec.client_alias;
    p.deliver(proto::call_ringing_frame(id, c.id, from, c.ice[side(p.role)]));
  }
}

void Calls::detached(Peer& p) {
  std::vector<std::string> gone;
  const auto check = [&](const std::string& session) {
    auto it = by_session_.find(session);
    if (it != by_session_.end() && calls_.at(it->second).peer[side(p.role)] == p.id) gone.push_back(it->second);
  };
  if (p.role == Role::client) {
    check(p.name);
  } else if (const Talent* t = core_.talent(p.name)) {
    for (const auto& session : t->sessions) check(session);
  }
  for (const auto& id : gone) end(id, "peer_gone");
}

void Calls::tick(UnixMs now) {
  std::vector<std::string> due;
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    due.push_back(std::move(deadlines_.begin()->second));
    deadlines_.erase(deadlines_.begin());
  }
  for (const auto& id : due) {
    auto it = calls_.find(id);
    if (it == calls_.end()) continue;
    Call& c = it->second;
    if (c.state == State::ringing) {
      if (now >= c.started_at + config_.ring_timeout.count()) end(id, "no_answer");
      continue;
    }
    if (c.limit_at == 0) continue;
    if (now >= c.limit_at) {
      end(id, "time_limit");
    } else if (!c.warned && now >= c.limit_at - warn_before_limit_ms) {
      c.warned = true;
      const auto frame = proto::call_expiring_frame(c.session, c.id, (c.limit_at - now + 999) / 1000);
      deliver(c, Role::talent, frame);
      deliver(c, Role::client, frame);
    }
  }
}

void Calls::clock_stepped(UnixMs delta) {
  // A ringing call keeps its ring time, an answered one its minutes and the
  // seconds it reports.
  for (auto& [id, c] : calls_) {
    c.started_at += delta;
    if (c.answered_at) c.answered_at += delta;
    if (c.limit_at) c.limit_at += delta;
  }
  shift_keys(deadlines_, delta);
}

std::optional<UnixMs> Calls::next_deadline() const {
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.begin()->first;
}

Peer* Calls::peer_of(const Call& c, Role role) {
  if (const auto id = c.peer[side(role)]) return core_.find_peer(id);
  LiveSession* s = core_.find(c.session);  // the callee, still ringing: wherever she is now
  return s ? core_.peer_for(*s, role) : nullptr;
}

void Calls::deliver(const Call& c, Role role, const std::string& frame) {
  if (Peer* p = peer_of(c, role)) p->deliver(frame);
}

void Calls::schedule(UnixMs at, const std::string& call_id) {
  deadlines_.emplace(at, call_id);
  core_.deadline_added(at);
}

proto::IceServers Calls::credential(UnixMs expires_at) {
  auto c = crypto::new_turn_credential(turn_secret_, (expires_at + 999) / 1000);
  if (!swept_) {
    const UnixMs now = core_.clock().now();
    std::erase_if(unswept_, [now](const auto& u) { return u.second <= now; });
    unswept_.emplace(c.username, expires_at);
  }
  return {config_.turn_urls, std::move(c.username), std::move(c.password)};
}

}  // namespace tirai::relay
