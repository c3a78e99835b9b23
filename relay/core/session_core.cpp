#include "relay/core/session_core.hpp"

#include "crypto/random.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace tirai::relay {

using proto::ErrorCode;
using proto::Role;
using proto::SessionState;

namespace {
constexpr UnixMs purge_interval_ms = 10 * 60 * 1000;
}  // namespace

std::string describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown error";
  }
}

SessionCore::SessionCore(const Config& config, StoreRunner& store, const Clock& clock, Metrics& metrics)
    : config_(config), store_(store), clock_(clock), metrics_(metrics) {}

void SessionCore::submit(StoreRunner::Job job, StoreRunner::Done done) {
  if (!done) {
    done = [](std::exception_ptr e) {
      if (e) spdlog::error("[store] job failed: {}", describe(e));
    };
  }
  store_.submit(std::move(job), std::move(done));
}

// ---------------------------------------------------------------- start-up

void SessionCore::load(std::vector<store::TalentRecord> talents, std::vector<store::SessionRecord> live) {
  for (auto& t : talents) talents_.emplace(t.alias, Talent{t.id, std::move(t.secret_hash), t.created_at, nullptr, {}});
  const UnixMs now = clock_.now();
  std::size_t overdue = 0;
  for (auto& r : live) {
    const std::string id = r.id;
    const bool past_end = r.state == SessionState::closing ? r.closing_until.value_or(0) <= now : r.expires_at <= now;
    if (past_end) {
      // The relay was down when this session's time ran out: nobody could
      // write farewells then, so there is no grace to give now.
      const std::string reason = r.state == SessionState::closing ? r.close_reason : "expired";
      submit([id, reason, now](store::Store& st) {
        st.teardown(id, reason, now);
        st.request_checkpoint();
      });
      metrics_.closed(reason);
      ++overdue;
      continue;
    }
    if (auto t = talents_.find(r.talent_alias); t != talents_.end()) t->second.sessions.insert(id);
    if (!r.token_hash.empty()) by_token_[as_key(r.token_hash)] = id;
    metrics_.session_state(r.state, 1);
    auto& s = live_.emplace(id, LiveSession(std::move(r))).first->second;
    s.last_activity = now;
    announce([&](SessionEvents& l) { l.booked(s, true); });
    schedule(s);
  }
  spdlog::info("[session] loaded {} talents, {} live sessions, {} overdue sessions closed", talents_.size(),
               live_.size(), overdue);
}

void SessionCore::close_all() {
  std::vector<Peer*> all;
  for (auto& [id, p] : peers_) all.push_back(p);
  for (auto* p : all) p->close(CloseCode::going_away, "relay shutting down");
}

// ---------------------------------------------------------------- connections

void SessionCore::attach(Peer& p) {
  p.id = ++next_peer_id_;
  peers_[p.id] = &p;
  metrics_.connections->Increment();
}

void SessionCore::detach(Peer& p) {
  if (!peers_.erase(p.id)) return;
  metrics_.connections->Decrement();
  if (!p.authenticated) return;
  if (p.role == Role::talent) {
    if (auto t = talents_.find(p.name); t != talents_.end() && t->second.peer == &p) {
      t->second.peer = nullptr;
      metrics_.talents_online->Decrement();
    }
  } else if (auto s = live_.find(p.name); s != live_.end() && s->second.client == &p) {
    s->second.client = nullptr;
  }
  announce([&](SessionEvents& l) { l.detached(p); });
  p.authenticated = false;
}

Peer* SessionCore::find_peer(std::uint64_t id) {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second;
}

void SessionCore::reply_error(Peer& p, ErrorCode code, std::string_view message, const std::optional<std::string>& id) {
  metrics_.error(code);
  p.deliver(proto::error_frame(code, message, id));
}

std::vector<std::string> SessionCore::attach_talent(Peer& p, const std::string& alias) {
  auto& t = talents_.at(alias);
  if (t.peer && t.peer != &p) {
    Peer* old = t.peer;
    t.peer = nullptr;
    announce([&](SessionEvents& l) { l.detached(*old); });  // its calls end with it
    old->authenticated = false;
    old->close(CloseCode::policy, "logged in elsewhere");
  } else if (!t.peer) {
    metrics_.talents_online->Increment();
  }
  t.peer = &p;
  p.authenticated = true;
  p.role = Role::talent;
  p.name = alias;
  p.logged_in();
  return {t.sessions.begin(), t.sessions.end()};
}

void SessionCore::attach_client(Peer& p, LiveSession& s) {
  if (s.client && s.client != &p) {
    Peer* old = s.client;
    s.client = nullptr;
    announce([&](SessionEvents& l) { l.detached(*old); });  // its calls end with it
    old->authenticated = false;
    old->close(CloseCode::policy, "logged in elsewhere");
  }
  s.client = &p;
  p.authenticated = true;
  p.role = Role::client;
  p.name = s.rec.id;
  p.logged_in();
}

void SessionCore::announce_attached(Peer& p, const std::vector<std::string>& sessions) {
  announce([&](SessionEvents& l) { l.attached(p, sessions); });
}

proto::SessionView SessionCore::view_for(const LiveSession& s, Role role) const {
  const auto& r = s.rec;
  proto::SessionView v{r.id, role == Role::talent ? r.client_alias : r.talent_alias, r.package, r.channels,
                       r.state, r.expires_at, std::nullopt};
  if (role == Role::talent) {
    v.client = proto::ClientStandingView{r.standing.verified, r.standing.average, r.standing.ratings};
    const bool voice = std::find(r.channels.begin(), r.channels.end(), "voice") != r.channels.end();
    v.by_phone = config_.phone.enabled && voice && !r.proxy_number.empty();
  }
  return v;
}

Peer* SessionCore::talent_peer(const LiveSession& s) {
  auto t = talents_.find(s.rec.talent_alias);
  return t == talents_.end() ? nullptr : t->second.peer;
}

void SessionCore::notify_both(LiveSession& s, const std::string& frame) {
  if (Peer* t = talent_peer(s)) t->deliver(frame);
  if (s.client) s.client->deliver(frame);
}

// ---------------------------------------------------------------- talents

Talent* SessionCore::talent(const std::string& alias) {
  auto t = talents_.find(alias);
  return t == talents_.end() ? nullptr : &t->second;
}

bool SessionCore::enrol(const store::TalentRecord& t) {
  return talents_.emplace(t.alias, Talent{t.id, t.secret_hash, t.created_at, nullptr, {}}).second;
}

std::optional<std::int64_t> SessionCore::remove_talent(const std::string& alias) {
  auto it = talents_.find(alias);
  if (it == talents_.end()) return std::nullopt;
  const std::vector<std::string> sessions(it->second.sessions.begin(), it->second.sessions.end());
  for (const auto& id : sessions) {
    auto& s = live_.at(id);
    s.rec.close_reason = "talent_removed";
    announce([&](SessionEvents& l) { l.closing(s); });
    close_now(id);
  }
  const auto id = it->second.id;
  if (Peer* p = it->second.peer) {
    metrics_.talents_online->Decrement();
    p->authenticated = false;
    p->close(CloseCode::policy, "account removed");
  }
  talents_.erase(it);
  return id;
}

// ---------------------------------------------------------------- sessions

LiveSession* SessionCore::find(const std::string& id) {
  auto it = live_.find(id);
  return it == live_.end() ? nullptr : &it->second;
}

LiveSession* SessionCore::find_by_token(std::string_view token) {
  auto it = by_token_.find(as_key(crypto::token_hash(token)));
  return it == by_token_.end() ? nullptr : &live_.at(it->second);
}

LiveSession* SessionCore::session_for(const Peer& p, const std::string& id) {
  auto it = live_.find(id);
  if (it == live_.end()) return nullptr;
  if (p.role == Role::talent ? it->second.rec.talent_alias != p.name : p.name != id) return nullptr;
  return &it->second;
}

LiveSession& SessionCore::open(store::SessionRecord rec) {
  talents_.at(rec.talent_alias).sessions.insert(rec.id);
  by_token_[as_key(rec.token_hash)] = rec.id;
  const auto booked_at = rec.booked_at;
  const std::string id = rec.id;
  auto& s = live_.emplace(id, LiveSession(std::move(rec))).first->second;
  s.last_activity = booked_at;
  metrics_.session_state(SessionState::open, 1);
  metrics_.bookings->Increment();
  announce([&](SessionEvents& l) { l.booked(s, false); });
  schedule(s);
  return s;
}

void SessionCore::activity(LiveSession& s, UnixMs at) {
  s.last_activity = at;
  if (s.rec.state == SessionState::open) {
    set_state(s, SessionState::active);
    announce([&](SessionEvents& l) { l.first_message(s); });
  }
  if (s.idle_applies()) schedule(s);
}

void SessionCore::client_contacted(LiveSession& s) {
  if (s.rec.client_contacted) return;
  s.rec.client_contacted = true;
  submit([id = s.rec.id](store::Store& st) { st.mark_client_contacted(id); });
}

void SessionCore::hold(LiveSession& s, bool on) {
  s.holds += on ? 1 : -1;
  if (on || s.holds > 0) return;
  s.last_activity = clock_.now();
  if (s.idle_applies()) schedule(s);
}

void SessionCore::answered_call_ended(LiveSession& s, std::int64_t seconds) {
  if (seconds > 0) {
    s.rec.call_seconds += seconds;
    submit([id = s.rec.id, seconds](store::Store& st) { st.add_call_seconds(id, seconds); });
  }
  hold(s, false);
}

void SessionCore::on_end(Peer& p, const proto::End& e) {
  LiveSession* s = session_for(p, e.session);
  if (!s) return reply_error(p, ErrorCode::not_in_session, "no such session");
  begin_close(*s, p.role == Role::talent ? "ended_by_talent" : "ended_by_client");
}

void SessionCore::client_erased(std::int64_t client, const std::vector<std::string>& sessions) {
  announce([&](SessionEvents& l) { l.client_erased(client); });
  for (const auto& id : sessions) {
    auto it = live_.find(id);
    if (it == live_.end()) continue;
    it->second.rec.close_reason = "client_erased";
    close_now(id, false);
  }
}

// ---------------------------------------------------------------- lifecycle

void SessionCore::set_state(LiveSession& s, SessionState state) {
  metrics_.session_state(s.rec.state, -1);
  metrics_.session_state(state, 1);
  s.rec.state = state;
}

void SessionCore::begin_close(LiveSession& s, std::string_view reason) {
  if (s.rec.state == SessionState::closing) return close_now(s.rec.id);
  s.rec.close_reason = std::string(reason);
  announce([&](SessionEvents& l) { l.closing(s); });
  if (config_.sessions.grace.count() == 0) return close_now(s.rec.id);
  set_state(s, SessionState::closing);
  const UnixMs until = clock_.now() + config_.sessions.grace.count();
  s.rec.closing_until = until;
  submit([id = s.rec.id, reason = s.rec.close_reason, until](store::Store& st) { st.set_closing(id, reason, until); });
  notify_both(s, proto::session_state_frame(s.rec.id, SessionState::closing, s.rec.close_reason,
                                            config_.sessions.grace.count() / 1000));
  spdlog::info("[session] {} closing ({})", s.rec.id, s.rec.close_reason);
  schedule(s);
}

void SessionCore::close_now(const std::string& id, bool store_teardown) {
  auto node = live_.extract(id);
  if (node.empty()) return;
  LiveSession& s = node.mapped();
  const std::string reason = s.rec.close_reason.empty() ? "expired" : s.rec.close_reason;
  by_token_.erase(as_key(s.rec.token_hash));
  announce([&](SessionEvents& l) { l.closed(s); });
  if (auto t = talents_.find(s.rec.talent_alias); t != talents_.end()) t->second.sessions.erase(id);
  metrics_.session_state(s.rec.state, -1);
  metrics_.closed(reason);
  if (store_teardown) {
    const UnixMs now = clock_.now();
    submit([id, reason, now](store::Store& st) {
      st.teardown(id, reason, now);
      st.request_checkpoint();
    });
  }
  const auto frame = proto::session_state_frame(id, SessionState::closed, reason, std::nullopt);
  if (Peer* t = talent_peer(s)) t->deliver(frame);
  if (Peer* c = s.client) {
    c->deliver(frame);
    c->authenticated = false;  // this connection was only for this session
    c->close(CloseCode::normal, "session closed");
  }
  spdlog::info("[session] {} closed ({})", id, reason);
}

void SessionCore::clock_stepped(UnixMs delta) {
  // Rounded: the two clocks are read a moment apart, so a step of 2 h can measure 7199.999 s.
  spdlog::warn("[session] the system clock was stepped by {:+} s: {} live sessions keep the time they had left",
               std::llround(static_cast<double>(delta) / 1000.0), live_.size());
  metrics_.clock_steps->Increment();
  for (auto& [id, s] : live_) {
    s.rec.expires_at += delta;
    if (s.rec.closing_until) *s.rec.closing_until += delta;
    if (s.last_activity) s.last_activity += delta;
  }
  shift_keys(deadlines_, delta);
  next_purge_ += delta;
  for (auto* t : timed_) t->clock_stepped(delta);
  submit([delta](store::Store& st) { st.shift_live_times(delta); });
  if (deadline_changed_) deadline_changed_();
}

void SessionCore::schedule(const LiveSession& s) {
  UnixMs at;
  if (s.rec.state == SessionState::closing) {
    at = s.rec.closing_until.value_or(0);
  } else {
    const UnixMs warn_at = s.rec.expires_at - config_.sessions.warn_before.count();
    at = (!s.rec.warned && config_.sessions.warn_before.count() > 0 && warn_at < s.rec.expires_at) ? warn_at
                                                                                                    : s.rec.expires_at;
    if (s.idle_applies()) at = std::min(at, s.last_activity + s.rec.idle_timeout_ms);
  }
  const bool earlier = deadlines_.empty() || at < deadlines_.begin()->first;
  deadlines_.emplace(at, s.rec.id);
  if (earlier && deadline_changed_) deadline_changed_();
}

void SessionCore::evaluate(const std::string& id, UnixMs now) {
  auto it = live_.find(id);
  if (it == live_.end()) return;
  LiveSession& s = it->second;
  if (s.rec.state == SessionState::closing) {
    if (now >= s.rec.closing_until.value_or(0)) return close_now(id);
  } else {
    if (now >= s.rec.expires_at ||
        (s.idle_applies() && now >= s.last_activity + s.rec.idle_timeout_ms)) {
      begin_close(s, "expired");
      return;
    }
    const UnixMs warn_at = s.rec.expires_at - config_.sessions.warn_before.count();
    if (!s.rec.warned && config_.sessions.warn_before.count() > 0 && now >= warn_at) {
      s.rec.warned = true;
      submit([id](store::Store& st) { st.mark_warned(id); });
      const auto seconds = (s.rec.expires_at - now + 999) / 1000;
      notify_both(s, proto::expiring_notice_frame(id, s.rec.state, seconds));
      announce([&](SessionEvents& l) { l.expiring(s, seconds); });
    }
  }
  schedule(s);
}

void SessionCore::tick() {
  const UnixMs now = clock_.now();
  const auto mono = clock_.monotonic_ms();
  if (last_tick_) {
    const UnixMs delta = (now - last_tick_->first) - (mono - last_tick_->second);
    if (delta >= clock_step_threshold_ms || delta <= -clock_step_threshold_ms) clock_stepped(delta);
  }
  last_tick_.emplace(now, mono);
  // Stale entries (a session that changed state since) are harmless: evaluate
  // looks at the session as it is now and schedules its real next deadline.
  std::vector<std::string> due;
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    due.push_back(std::move(deadlines_.begin()->second));
    deadlines_.erase(deadlines_.begin());
  }
  std::sort(due.begin(), due.end());
  due.erase(std::unique(due.begin(), due.end()), due.end());
  for (const auto& id : due) evaluate(id, now);
  for (auto* t : timed_) t->tick(now);
  if (now >= next_purge_) {
    announce([&](SessionEvents& l) { l.purge(now); });
    next_purge_ = now + std::min<UnixMs>(purge_interval_ms, std::max<UnixMs>(config_.sessions.retention.count(), 1000));
    const UnixMs before = now - config_.sessions.retention.count();
    submit([before](store::Store& st) {
      if (const int n = st.purge_closed(before)) spdlog::info("[store] purged {} closed session records", n);
    });
  }
}

std::optional<UnixMs> SessionCore::next_deadline() const {
  UnixMs next = next_purge_;
  if (!deadlines_.empty()) next = std::min(next, deadlines_.begin()->first);
  for (const auto* t : timed_)
    if (auto at = t->next_deadline()) next = std::min(next, *at);
  return next;
}

void SessionCore::deadline_added(UnixMs at) {
  if (deadline_changed_ && at <= *next_deadline()) deadline_changed_();
}

}  // namespace tirai::relay
