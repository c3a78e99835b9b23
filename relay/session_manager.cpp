#include "relay/session_manager.hpp"

#include "crypto/random.hpp"
#include "proto/identifiers.hpp"
#include "proto/utf8.hpp"
#include "proto/wipe.hpp"
#include "relay/local_time.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace tirai::relay {

using proto::ErrorCode;
using proto::Role;
using proto::SessionState;

namespace {
constexpr std::size_t min_secret_chars = 10;
constexpr UnixMs purge_interval_ms = 10 * 60 * 1000;

std::string key_of(const crypto::Bytes& b) { return std::string(b.begin(), b.end()); }

// The message of a failed store job, for the log (store errors carry no
// numbers, tokens or texts: they name tables and session ids).
std::string what(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown error";
  }
}
Role other(Role r) { return r == Role::talent ? Role::client : Role::talent; }

// A real number leaves the request's heap string for locked memory (wiped
// when freed), so store jobs that outlive the request carry no copy of it.
using SealedNumber = std::shared_ptr<const crypto::Secret>;
SealedNumber seal_number(std::string& number) {
  auto sealed = std::make_shared<const crypto::Secret>(crypto::Secret::from(number));
  proto::wipe(number);
  return sealed;
}
}  // namespace

SessionManager::SessionManager(const Config& config, StoreRunner& store, Worker& worker,
                               const crypto::Keyring& keys, const Clock& clock, Metrics& metrics,
                               crypto::PasswordCost cost)
    : config_(config),
      store_(store),
      worker_(worker),
      keys_(keys),
      clock_(clock),
      metrics_(metrics),
      cost_(cost),
      packages_(config.packages),
      policy_(config.policy),
      alias_mode_(config.sessions.client_alias),
      login_guard_(LoginGuard::Limits{config.policy.login_attempts_per_minute}),
      dummy_hash_(crypto::hash_password(crypto::base64url(crypto::random_bytes(24)), cost)),
      auth_failed_frame_(proto::error_frame(ErrorCode::auth_failed, "authentication failed")) {}

void SessionManager::submit(StoreRunner::Job job, StoreRunner::Done done) {
  if (!done) {
    done = [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("[store] job failed: {}", ex.what());
      }
    };
  }
  store_.submit(std::move(job), std::move(done));
}

// ---------------------------------------------------------------- start-up

void SessionManager::load(std::vector<store::TalentRecord> talents, std::vector<store::SessionRecord> live) {
  for (auto& t : talents)
    talents_.emplace(t.alias, TalentEntry{t.id, std::move(t.secret_hash), t.created_at, nullptr, {}});
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
    if (!r.token_hash.empty()) by_token_[key_of(r.token_hash)] = id;
    metrics_.session_state(r.state, 1);
    auto& s = live_.emplace(id, Live(std::move(r))).first->second;
    s.reserved = s.rec.message_count;
    s.last_activity = now;
    add_route(s);
    schedule(s);
  }
  spdlog::info("[session] loaded {} talents, {} live sessions, {} overdue sessions closed", talents_.size(),
               live_.size(), overdue);
}

void SessionManager::close_all() {
  std::vector<Peer*> all;
  for (auto& [id, p] : peers_) all.push_back(p);
  for (auto* p : all) p->close(CloseCode::going_away, "relay shutting down");
}

// ---------------------------------------------------------------- connections

void SessionManager::attach(Peer& p) {
  p.id = ++next_peer_id_;
  peers_[p.id] = &p;
  metrics_.connections->Increment();
}

void SessionManager::detach(Peer& p) {
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
  p.authenticated = false;
}

Peer* SessionManager::find_peer(std::uint64_t id) {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second;
}

void SessionManager::reply_error(Peer& p, ErrorCode code, std::string_view message,
                                 const std::optional<std::string>& id) {
  metrics_.error(code);
  p.deliver(proto::error_frame(code, message, id));
}

void SessionManager::on_frame(Peer& p, proto::Inbound&& frame) {
  if (auto* err = std::get_if<proto::FrameError>(&frame)) {
    reply_error(p, err->code, err->message, err->id);
    return;
  }
  if (auto* hello = std::get_if<proto::Hello>(&frame)) {
    on_hello(p, std::move(*hello));
    return;
  }
  if (!p.authenticated) {
    reply_error(p, ErrorCode::not_allowed, "say hello first");
    return;
  }
  if (auto* send = std::get_if<proto::Send>(&frame)) on_send(p, std::move(*send));
  else if (auto* ack = std::get_if<proto::Ack>(&frame)) on_ack(p, *ack);
  else if (auto* end = std::get_if<proto::End>(&frame)) on_end(p, *end);
  else if (auto* rate = std::get_if<proto::Rate>(&frame)) on_rate(p, *rate);
  else if (auto* call = std::get_if<proto::Call>(&frame)) on_call(p, *call);
}

void SessionManager::fail_auth(Peer& p) {
  metrics_.error(ErrorCode::auth_failed);
  p.deliver(auth_failed_frame_);
  p.close(CloseCode::policy, "authentication failed");
}

void SessionManager::refuse_login(Peer& p, std::string_view why) {
  metrics_.error(ErrorCode::rate_limited);
  p.deliver(proto::error_frame(ErrorCode::rate_limited, why));
  p.close(CloseCode::policy, "rate limited");
}

void SessionManager::on_hello(Peer& p, proto::Hello&& h) {
  if (p.authenticated || p.replay_pending) {
    reply_error(p, ErrorCode::not_allowed, "already said hello");
    return;
  }
  const UnixMs now = clock_.now();
  constexpr std::string_view too_many = "too many failed logins; try again in a minute";
  // A hello that needs no hash (a token, or an alias that cannot exist) is
  // checked first: a right token is never refused for other people's failures.
  const auto fail_cheaply = [&] {
    const bool limited = login_guard_.address_limited(p.address, now);
    login_guard_.failed(p.address, {}, now);
    metrics_.login_entries->Set(static_cast<double>(login_guard_.tracked()));
    return limited ? refuse_login(p, too_many) : fail_auth(p);
  };
  if (h.role == Role::client) {
    auto it = by_token_.find(key_of(crypto::token_hash(h.token)));
    proto::wipe(h.token);
    if (it == by_token_.end()) return fail_cheaply();
    login_client(p, live_.at(it->second));
    return;
  }
  // The secret leaves the frame's heap string for locked memory at once.
  auto secret = std::make_shared<crypto::Secret>(crypto::Secret::from(h.secret));
  proto::wipe(h.secret);
  // No state and no hash for what the design's alias form rules out.
  if (!proto::valid_alias(h.alias)) return fail_cheaply();
  switch (login_guard_.start_hash(p.address, now)) {
    case LoginGuard::Start::go: break;
    case LoginGuard::Start::address_limited: return refuse_login(p, too_many);
    case LoginGuard::Start::busy: return refuse_login(p, "a login is being checked already; try again in a moment");
  }
  // An unknown alias is checked against a dummy hash so that it costs what a
  // wrong secret costs, and both get the same bytes back.
  auto t = talents_.find(h.alias);
  const bool known = t != talents_.end();
  auto hash = std::make_shared<std::string>(known ? t->second.secret_hash : dummy_hash_);
  auto ok = std::make_shared<bool>(false);
  p.replay_pending = true;  // blocks a second hello while this one is verified
  worker_.run([hash, secret, ok] { *ok = crypto::verify_password(*hash, secret->view()); },
              [this, pid = p.id, address = p.address, alias = std::move(h.alias), known, hash, ok] {
                login_guard_.hashed();
                auto it = talents_.find(alias);
                // The talent may have been removed, or re-enrolled, while we hashed.
                const bool right = known && *ok && it != talents_.end() && it->second.secret_hash == *hash;
                finish_talent_hello(pid, address, alias, right);
              });
}

void SessionManager::finish_talent_hello(std::uint64_t pid, const std::string& address, const std::string& alias,
                                         bool ok) {
  Peer* peer = find_peer(pid);
  if (ok) {
    login_guard_.release(address);
    login_guard_.succeeded(alias);
    if (!peer) return;
    peer->replay_pending = false;
    return login_talent(*peer, alias);
  }
  const UnixMs now = clock_.now();
  const UnixMs wait = login_guard_.failed(address, alias, now);
  metrics_.login_entries->Set(static_cast<double>(login_guard_.tracked()));
  if (wait > 0) return fail_later(pid, address, now + wait);
  login_guard_.release(address);
  if (!peer) return;
  peer->replay_pending = false;
  fail_auth(*peer);
}

void SessionManager::fail_later(std::uint64_t pid, std::string address, UnixMs at) {
  const bool earlier = !next_deadline() || at < *next_deadline();
  delayed_failures_.emplace(at, std::pair{pid, std::move(address)});
  if (earlier && deadline_changed_) deadline_changed_();
}

proto::SessionView SessionManager::view_for(const Live& s, Role role) const {
  const auto& r = s.rec;
  proto::SessionView v{r.id, role == Role::talent ? r.client_alias : r.talent_alias, r.package, r.channels,
                       r.state, r.expires_at, std::nullopt};
  if (role == Role::talent)
    v.client = proto::ClientStandingView{r.standing.verified, r.standing.average, r.standing.ratings};
  return v;
}

void SessionManager::login_talent(Peer& p, const std::string& alias) {
  auto& t = talents_.at(alias);
  if (t.peer && t.peer != &p) {
    Peer* old = t.peer;
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
  std::vector<proto::SessionView> views;
  std::vector<std::string> ids;
  for (const auto& id : t.sessions) {
    const auto& s = live_.at(id);
    views.push_back(view_for(s, Role::talent));
    ids.push_back(id);
  }
  std::sort(views.begin(), views.end(), [](const auto& a, const auto& b) { return a.expires_at < b.expires_at; });
  p.deliver(proto::welcome_frame(Role::talent, views));
  spdlog::info("[session] talent {} connected with {} open sessions", alias, ids.size());
  replay(p, std::move(ids));
}

void SessionManager::login_client(Peer& p, Live& s) {
  if (s.client && s.client != &p) {
    Peer* old = s.client;
    old->authenticated = false;
    old->close(CloseCode::policy, "logged in elsewhere");
  }
  s.client = &p;
  p.authenticated = true;
  p.role = Role::client;
  p.name = s.rec.id;
  p.logged_in();
  p.deliver(proto::welcome_frame(Role::client, {view_for(s, Role::client)}));
  spdlog::info("[session] client {} of session {} connected", s.rec.client_alias, s.rec.id);
  replay(p, {s.rec.id});
}

// Sends every unacknowledged message to a peer that just said hello. Live
// deliveries are held back until the replay is out: anything committed before
// the replay's read is in it, anything after comes live, in order.
void SessionManager::replay(Peer& p, std::vector<std::string> sessions) {
  if (sessions.empty()) return;
  p.replay_pending = true;
  const Role receiver = p.role;
  auto found = std::make_shared<std::vector<store::StoredMessage>>();
  submit(
      [sessions = std::move(sessions), receiver, found](store::Store& st) {
        found->clear();  // a job may run twice (StoreWorker)
        for (const auto& id : sessions) {
          auto m = st.pending(id, receiver);
          std::move(m.begin(), m.end(), std::back_inserter(*found));
        }
      },
      [this, pid = p.id, found](std::exception_ptr e) {
        Peer* peer = find_peer(pid);
        if (!peer) return;
        peer->replay_pending = false;
        if (e) {
          spdlog::error("[session] replay failed; closing the connection so the peer retries");
          peer->close(CloseCode::try_again_later, "internal error");
          return;
        }
        for (const auto& m : *found) {
          auto s = live_.find(m.session);
          if (s == live_.end()) continue;
          const std::string& from = m.sender == Role::talent ? s->second.rec.talent_alias : s->second.rec.client_alias;
          peer->deliver(proto::message_frame(m.session, m.seq, from, m.text, m.sent_at, m.redacted));
        }
      });
}

SessionManager::Live* SessionManager::session_for(const Peer& p, const std::string& id) {
  auto it = live_.find(id);
  if (it == live_.end()) return nullptr;
  if (p.role == Role::talent ? it->second.rec.talent_alias != p.name : p.name != id) return nullptr;
  return &it->second;
}

Peer* SessionManager::talent_peer(const Live& s) {
  auto t = talents_.find(s.rec.talent_alias);
  return t == talents_.end() ? nullptr : t->second.peer;
}

void SessionManager::notify_both(Live& s, const std::string& frame) {
  if (Peer* t = talent_peer(s)) t->deliver(frame);
  if (s.client) s.client->deliver(frame);
}

bool SessionManager::Bucket::take(double capacity, UnixMs now) {
  if (last == 0) tokens = capacity;
  else tokens = std::min(capacity, tokens + static_cast<double>(now - last) * capacity / 60'000.0);
  last = now;
  if (tokens < 1) return false;
  tokens -= 1;
  return true;
}

std::optional<SessionManager::Refusal> SessionManager::admit(Live& s, Role sender, std::string& text, bool& redacted,
                                                            UnixMs now) {
  const auto side = static_cast<std::size_t>(sender);
  redacted = false;
  if (s.rec.max_messages && s.reserved >= *s.rec.max_messages)
    return Refusal{ErrorCode::quota_exhausted, "the package's message quota is used up"};
  if (policy_.messages_per_minute > 0 && !s.send_bucket[side].take(policy_.messages_per_minute, now))
    return Refusal{ErrorCode::rate_limited, "too many messages; wait a moment and send again"};
  if (policy_.contact_guard != ContactGuard::off) {
    const auto spans = scanner_.scan(text, s.carried_digits[side]);
    if (!spans.empty()) {
      if (policy_.contact_guard == ContactGuard::block) {
        s.carried_digits[side] = 0;
        return Refusal{ErrorCode::contact_details_blocked,
                       "contact details are not allowed here; the message was not sent"};
      }
      text = ContactScanner::redact(text, spans);
      redacted = true;
    }
    s.carried_digits[side] = redacted ? 0 : ContactScanner::trailing_digits(text);
  }
  return std::nullopt;
}

void SessionManager::append(Live& s, std::shared_ptr<Appending> a) {
  ++s.reserved;
  // The job's pointer stays good: a runner keeps a job's done, which owns
  // `a`, until the job has run (StoreRunner).
  Appending* op = a.get();
  submit(
      [op](store::Store& st) {
        op->result = st.append(op->session, op->sender, op->send_id, op->text, op->now, op->redacted);
      },
      [this, a = std::move(a)](std::exception_ptr e) {
        auto it = live_.find(a->session);
        Live* s = it == live_.end() ? nullptr : &it->second;
        if (s && (e || !a->result || a->result->duplicate)) --s->reserved;
        a->then(s, e, *a);
      });
}

void SessionManager::on_send(Peer& p, proto::Send&& send) {
  Live* s = session_for(p, send.session);
  if (!s) return reply_error(p, ErrorCode::not_in_session, "no such session", send.id);
  const Role sender = p.role;
  bool redacted = false;
  const UnixMs now = clock_.now();
  if (auto refusal = admit(*s, sender, send.text, redacted, now))
    return reply_error(p, refusal->first, refusal->second, send.id);
  auto a = std::make_shared<Appending>();
  a->session = std::move(send.session);
  a->send_id = std::move(send.id);
  a->text = std::move(send.text);
  a->sender = sender;
  a->redacted = redacted;
  a->now = now;
  a->then = [this, pid = p.id](Live* s, std::exception_ptr e, const Appending& a) {
    Peer* peer = find_peer(pid);
    if (e) {
      if (peer) reply_error(*peer, ErrorCode::internal, "the message could not be stored", a.send_id);
      return;
    }
    if (!a.result) {
      if (peer) reply_error(*peer, ErrorCode::not_in_session, "no such session", a.send_id);
      return;
    }
    const auto& r = *a.result;
    const bool redacted = a.redacted && !r.duplicate;
    // To an SMS client, `accepted` means the gateway accepted it.
    const bool by_sms = s && !r.duplicate && a.sender == Role::talent && !s->client && sms_session(*s);
    if (by_sms) {
      send_sms(*s, r.seq, a.text, [this, pid, id = a.send_id, session = a.session, seq = r.seq, redacted] {
        if (Peer* peer = find_peer(pid)) peer->deliver(proto::accepted_frame(id, session, seq, redacted));
      });
    } else if (peer) {
      frame_.clear();
      proto::append_accepted_frame(frame_, a.send_id, a.session, r.seq, redacted);
      peer->deliver(frame_);
    }
    if (r.duplicate || !s) return;
    relay_stored(*s, a.sender, r, a.text, a.redacted, by_sms);
  };
  append(*s, std::move(a));
}

void SessionManager::relay_stored(Live& s, Role sender, const store::AppendResult& r, const std::string& text,
                                  bool redacted, bool sent_by_sms) {
  metrics_.messages_relayed->Increment();
  ++s.rec.message_count;
  s.last_activity = r.sent_at;
  if (s.rec.state == SessionState::open) set_state(s, SessionState::active);
  Peer* to = peer_for(s, other(sender));
  if (!sent_by_sms && to && !to->replay_pending) {
    const std::string& from = sender == Role::talent ? s.rec.talent_alias : s.rec.client_alias;
    frame_.clear();
    proto::append_message_frame(frame_, s.rec.id, r.seq, from, text, r.sent_at, redacted);
    to->deliver(frame_);
  }
  if (s.rec.idle_timeout_ms > 0) schedule(s);
  if (s.rec.max_messages) {
    const auto max = *s.rec.max_messages;
    const auto notice_at = (max * 9 + 9) / 10;  // 90%, rounded up
    if (s.rec.message_count == notice_at && notice_at < max)
      notify_both(s, proto::quota_notice_frame(s.rec.id, s.rec.state, max - s.rec.message_count));
    // Last: closing may tear the session down (and `s` with it).
    if (s.rec.message_count >= max && s.rec.state != SessionState::closing) begin_close(s, "quota_exhausted");
  }
}

void SessionManager::on_rate(Peer& p, const proto::Rate& r) {
  if (p.role != Role::talent) return reply_error(p, ErrorCode::not_allowed, "only talents rate clients");
  auto t = talents_.find(p.name);
  if (t == talents_.end()) return reply_error(p, ErrorCode::not_in_session, "no such session");
  auto result = std::make_shared<store::RateResult>(store::RateResult::unknown);
  submit(
      [session = r.session, talent_id = t->second.id, score = r.score, now = clock_.now(),
       window = policy_.rating_window.count(), result](store::Store& st) {
        *result = st.rate(session, talent_id, score, now, window);
      },
      [this, pid = p.id, session = r.session, score = r.score, result](std::exception_ptr e) {
        Peer* peer = find_peer(pid);
        if (!peer) return;
        if (e) return reply_error(*peer, ErrorCode::internal, "the rating could not be stored");
        switch (*result) {
          case store::RateResult::ok: return peer->deliver(proto::rated_frame(session, score));
          case store::RateResult::unknown: return reply_error(*peer, ErrorCode::not_in_session, "no such session");
          case store::RateResult::not_closing:
            return reply_error(*peer, ErrorCode::not_allowed, "a client is rated once the session is ending");
          case store::RateResult::too_late: return reply_error(*peer, ErrorCode::not_allowed, "the rating window has passed");
          case store::RateResult::already: return reply_error(*peer, ErrorCode::not_allowed, "this session is already rated");
        }
      });
}

void SessionManager::on_call(Peer& p, const proto::Call& c) {
  Live* s = session_for(p, c.session);
  if (!s) return reply_error(p, ErrorCode::not_in_session, "no such session");
  const auto voice = std::find(s->rec.channels.begin(), s->rec.channels.end(), "voice") != s->rec.channels.end();
  if (!voice) return reply_error(p, ErrorCode::not_allowed, "this session's package is chat only");
  reply_error(p, ErrorCode::not_allowed, "voice calls are not available on this relay yet");
}

void SessionManager::on_ack(Peer& p, const proto::Ack& a) {
  if (!session_for(p, a.session)) return reply_error(p, ErrorCode::not_in_session, "no such session");
  submit([session = a.session, receiver = p.role, seq = a.seq](store::Store& st) { st.ack(session, receiver, seq); });
}

void SessionManager::on_end(Peer& p, const proto::End& e) {
  Live* s = session_for(p, e.session);
  if (!s) return reply_error(p, ErrorCode::not_in_session, "no such session");
  begin_close(*s, p.role == Role::talent ? "ended_by_talent" : "ended_by_client");
}

// ---------------------------------------------------------------- lifecycle

void SessionManager::set_state(Live& s, SessionState state) {
  metrics_.session_state(s.rec.state, -1);
  metrics_.session_state(state, 1);
  s.rec.state = state;
}

void SessionManager::begin_close(Live& s, std::string_view reason) {
  if (s.rec.state == SessionState::closing) return close_now(s.rec.id);
  s.rec.close_reason = std::string(reason);
  sms_notice(s, config_.sms.ended_notice);
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

void SessionManager::close_now(const std::string& id, bool store_teardown) {
  auto node = live_.extract(id);
  if (node.empty()) return;
  Live& s = node.mapped();
  const std::string reason = s.rec.close_reason.empty() ? "expired" : s.rec.close_reason;
  by_token_.erase(key_of(s.rec.token_hash));
  remove_route(s);
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

void SessionManager::schedule(const Live& s) {
  UnixMs at;
  if (s.rec.state == SessionState::closing) {
    at = s.rec.closing_until.value_or(0);
  } else {
    const UnixMs warn_at = s.rec.expires_at - config_.sessions.warn_before.count();
    at = (!s.rec.warned && config_.sessions.warn_before.count() > 0 && warn_at < s.rec.expires_at) ? warn_at
                                                                                                    : s.rec.expires_at;
    if (s.rec.idle_timeout_ms > 0) at = std::min(at, s.last_activity + s.rec.idle_timeout_ms);
  }
  const bool earlier = deadlines_.empty() || at < deadlines_.begin()->first;
  deadlines_.emplace(at, s.rec.id);
  if (earlier && deadline_changed_) deadline_changed_();
}

void SessionManager::evaluate(const std::string& id, UnixMs now) {
  auto it = live_.find(id);
  if (it == live_.end()) return;
  Live& s = it->second;
  if (s.rec.state == SessionState::closing) {
    if (now >= s.rec.closing_until.value_or(0)) return close_now(id);
  } else {
    if (now >= s.rec.expires_at ||
        (s.rec.idle_timeout_ms > 0 && now >= s.last_activity + s.rec.idle_timeout_ms)) {
      begin_close(s, "expired");
      return;
    }
    const UnixMs warn_at = s.rec.expires_at - config_.sessions.warn_before.count();
    if (!s.rec.warned && config_.sessions.warn_before.count() > 0 && now >= warn_at) {
      s.rec.warned = true;
      submit([id](store::Store& st) { st.mark_warned(id); });
      const auto seconds = (s.rec.expires_at - now + 999) / 1000;
      notify_both(s, proto::expiring_notice_frame(id, s.rec.state, seconds));
      std::string notice = config_.sms.expiry_notice;
      for (auto at = notice.find("{minutes}"); at != std::string::npos; at = notice.find("{minutes}"))
        notice.replace(at, 9, std::to_string((seconds + 59) / 60));
      sms_notice(s, notice);
    }
  }
  schedule(s);
}

void SessionManager::tick() {
  const UnixMs now = clock_.now();
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
  while (!delayed_failures_.empty() && delayed_failures_.begin()->first <= now) {
    auto node = delayed_failures_.extract(delayed_failures_.begin());
    login_guard_.release(node.mapped().second);
    if (Peer* peer = find_peer(node.mapped().first)) {
      peer->replay_pending = false;
      fail_auth(*peer);
    }
  }
  if (now >= next_purge_) {
    login_guard_.purge(now);
    metrics_.login_entries->Set(static_cast<double>(login_guard_.tracked()));
    std::erase_if(oos_replied_, [&](const auto& kv) {
      return now - kv.second >= config_.sms.out_of_session_interval.count();
    });
    next_purge_ = now + std::min<UnixMs>(purge_interval_ms, std::max<UnixMs>(config_.sessions.retention.count(), 1000));
    const UnixMs before = now - config_.sessions.retention.count();
    const UnixMs rated_before = now - policy_.rating_retention.count();
    submit([before, rated_before](store::Store& st) {
      if (const int n = st.purge_closed(before)) spdlog::info("[store] purged {} closed session records", n);
      if (const int n = st.purge_ratings(rated_before)) spdlog::info("[store] purged {} ratings past their retention", n);
    });
  }
}

std::optional<UnixMs> SessionManager::next_deadline() const {
  UnixMs next = next_purge_;
  if (!deadlines_.empty()) next = std::min(next, deadlines_.begin()->first);
  if (!delayed_failures_.empty()) next = std::min(next, delayed_failures_.begin()->first);
  return next;
}

// ---------------------------------------------------------------- admin

void SessionManager::add_talent(std::string alias, std::string secret,
                                std::function<void(std::optional<AdminError>)> done) {
  const proto::WipeOnExit wiped(&secret);
  if (!proto::valid_alias(alias))
    return done(AdminError{400, "invalid_alias", "an alias is 2-32 characters of a-z, 0-9, '_' and '-'"});
  const auto chars = proto::utf8_length(secret);
  if (!chars || *chars < min_secret_chars)
    return done(AdminError{400, "weak_secret", "a secret must be at least 10 characters"});
  if (talents_.count(alias)) return done(AdminError{409, "alias_taken", "that alias is taken"});
  auto hash = std::make_shared<std::string>();
  auto pw = std::make_shared<crypto::Secret>(crypto::Secret::from(secret));
  worker_.run([hash, pw, cost = cost_] { *hash = crypto::hash_password(pw->view(), cost); },
              [this, alias = std::move(alias), hash, done = std::move(done)] {
                if (hash->empty()) return done(AdminError{500, "internal", "the secret could not be hashed"});
                auto added = std::make_shared<std::optional<store::TalentRecord>>();
                const UnixMs now = clock_.now();
                submit(
                    [alias, hash, now, added](store::Store& st) {
                      if (st.add_talent(alias, *hash, now)) *added = st.talent(alias);
                    },
                    [this, done, added](std::exception_ptr e) {
                      if (e) return done(AdminError{500, "internal", "the talent could not be stored"});
                      if (!*added || talents_.count((*added)->alias))
                        return done(AdminError{409, "alias_taken", "that alias is taken"});
                      auto& t = **added;
                      talents_.emplace(t.alias, TalentEntry{t.id, t.secret_hash, t.created_at, nullptr, {}});
                      spdlog::info("[admin] talent {} enrolled", t.alias);
                      done(std::nullopt);
                    });
              });
}

std::vector<TalentInfo> SessionManager::talents() const {
  std::vector<TalentInfo> out;
  for (const auto& [alias, t] : talents_) out.push_back({alias, t.peer != nullptr, t.sessions.size(), t.created_at});
  return out;
}

void SessionManager::remove_talent(const std::string& alias, std::function<void(std::optional<AdminError>)> done) {
  auto it = talents_.find(alias);
  if (it == talents_.end()) return done(AdminError{404, "unknown_talent", "no such talent"});
  const std::vector<std::string> sessions(it->second.sessions.begin(), it->second.sessions.end());
  for (const auto& id : sessions) {
    auto& s = live_.at(id);
    s.rec.close_reason = "talent_removed";
    sms_notice(s, config_.sms.ended_notice);
    close_now(id);
  }
  const auto id = it->second.id;
  if (Peer* p = it->second.peer) {
    metrics_.talents_online->Decrement();
    p->authenticated = false;
    p->close(CloseCode::policy, "account removed");
  }
  talents_.erase(it);
  // As for an erasure, the WAL is truncated before the answer: the alias and
  // its hash must not linger in old page images.
  submit([id](store::Store& st) {
           st.remove_talent(id);
           st.request_checkpoint(true);
         },
         [alias, done = std::move(done)](std::exception_ptr e) {
           if (e) return done(AdminError{500, "internal", "the talent could not be removed"});
           spdlog::info("[admin] talent {} removed", alias);
           done(std::nullopt);
         });
}

bool SessionManager::kyc_window_now() const {
  return policy_.kyc_required_hours &&
         policy_.kyc_required_hours->contains(local_minute_of_day(clock_.now(), policy_.timezone));
}

void SessionManager::book(BookRequest req, std::function<void(AdminResult<Booking>)> done) {
  if (!proto::valid_e164(req.client_number)) {
    proto::wipe(req.client_number);
    return done(AdminError{400, "invalid_number", "the client number must be E.164: '+' and 8-15 digits"});
  }
  const auto number = seal_number(req.client_number);
  if (req.sms.value_or(false) && !sms_)
    return done(AdminError{400, "bad_request", "SMS is not enabled on this relay ([sms] enabled = false)"});
  const bool sms = sms_ && req.sms.value_or(true);
  auto t = talents_.find(req.talent);
  if (t == talents_.end()) return done(AdminError{404, "unknown_talent", "no such talent"});
  auto p = packages_.find(req.package);
  if (p == packages_.end()) return done(AdminError{404, "unknown_package", "no such package"});

  const UnixMs now = clock_.now();
  auto token = crypto::new_token();
  auto rec = std::make_shared<store::SessionRecord>();
  rec->id = crypto::new_session_id();
  rec->talent_id = t->second.id;
  rec->talent_alias = req.talent;
  rec->package = p->second.name;
  rec->channels = p->second.channels;
  rec->max_messages = p->second.max_messages;
  rec->idle_timeout_ms = p->second.idle_timeout.count();
  rec->state = SessionState::open;
  rec->booked_at = now;
  rec->expires_at = now + p->second.duration.count();
  rec->token_hash = crypto::token_hash(token);
  const bool kyc = p->second.kyc_required || kyc_window_now();
  auto refusal = std::make_shared<std::optional<AdminError>>();
  // The checks and the insert are one store job, so that a verification or
  // restriction the operator just made is seen, and nothing slips in between.
  // No pool: no proxy number for this booking.
  const store::ProxyChoice pool{sms ? &config_.sms.proxy_numbers : nullptr,
                       config_.sms.number_selection == NumberSelection::avoid_sticky};
  submit(
      [rec, refusal, number, now, kyc, rule = restriction_rule(), mode = alias_mode_,
       pool](store::Store& st) {
        const auto known = st.find_client(number->view());
        const auto standing = known ? st.standing(*known, rule) : store::ClientStanding{};
        if (standing.restricted) {
          *refusal = AdminError{409, "client_restricted", "this client may not be booked"};
          return;
        }
        if (kyc && !standing.verified) {
          *refusal = AdminError{409, "kyc_required", "this client must be verified before this booking"};
          return;
        }
        rec->client_id = known ? *known : st.client_for_number(number->view(), now);
        rec->standing = standing;
        // Unique among the talent's open sessions; stable per pair when asked.
        std::string alias = mode == ClientAliasMode::per_pair ? st.pair_alias(rec->talent_id, rec->client_id)
                                                              : "guest-" + crypto::random_alias_suffix(4);
        for (int n = 2; st.client_alias_in_use(rec->talent_id, alias); ++n)
          alias = mode == ClientAliasMode::per_pair ? fmt::format("{}-{}", st.pair_alias(rec->talent_id, rec->client_id), n)
                                                    : "guest-" + crypto::random_alias_suffix(4);
        rec->client_alias = alias;
        if (pool.pool) {
          auto proxy = st.choose_proxy(rec->client_id, rec->talent_id, pool);
          if (!proxy) {
            *refusal = AdminError{409, "pool_exhausted", "every proxy number is already in a live session of this client"};
            return;
          }
          rec->proxy_number = std::move(*proxy);
          st.remember_proxy(rec->client_id, rec->talent_id, rec->proxy_number, now);
        }
        st.insert_session(*rec);
      },
      [this, rec, refusal, number, token = std::move(token), done = std::move(done)](std::exception_ptr e) {
        if (e) {
          spdlog::error("[session] booking failed: {}", what(e));
          return done(AdminError{500, "internal", "the session could not be stored"});
        }
        if (*refusal) return done(**refusal);
        auto t = talents_.find(rec->talent_alias);
        if (t == talents_.end()) {
          // Removed while we stored it: tear the new session straight down.
          submit([id = rec->id, now = clock_.now()](store::Store& st) { st.teardown(id, "talent_removed", now); });
          return done(AdminError{404, "unknown_talent", "no such talent"});
        }
        t->second.sessions.insert(rec->id);
        by_token_[key_of(rec->token_hash)] = rec->id;
        if (!rec->proxy_number.empty()) rec->client_number = std::make_shared<const crypto::ArenaText>(*numbers_, number->view());
        auto& s = live_.emplace(rec->id, Live(*rec)).first->second;
        s.last_activity = rec->booked_at;
        add_route(s);
        metrics_.session_state(SessionState::open, 1);
        metrics_.bookings->Increment();
        schedule(s);
        if (t->second.peer) t->second.peer->deliver(proto::session_booked_frame(view_for(s, Role::talent)));
        spdlog::info("[session] {} booked: talent {}, client {}, package {}{}", rec->id, rec->talent_alias,
                     rec->client_alias, rec->package, rec->proxy_number.empty() ? "" : ", proxy " + rec->proxy_number);
        done(Booking{rec->id, rec->client_alias, token, rec->expires_at, rec->proxy_number});
      });
}

void SessionManager::lookup_client(std::string raw, std::function<void(AdminResult<store::ClientStanding>)> done) {
  const bool valid = proto::valid_e164(raw);
  const auto number = seal_number(raw);
  if (!valid)
    return done(AdminError{400, "invalid_number", "the client number must be E.164: '+' and 8-15 digits"});
  auto standing = std::make_shared<store::ClientStanding>();
  submit(
      [number, standing, rule = restriction_rule()](store::Store& st) {
        if (auto id = st.find_client(number->view())) *standing = st.standing(*id, rule);
      },
      [standing, done = std::move(done)](std::exception_ptr e) {
        if (e) return done(AdminError{500, "internal", "the client could not be read"});
        done(*standing);
      });
}

void SessionManager::verify_client(std::string raw, std::string method,
                                   std::function<void(std::optional<AdminError>)> done) {
  const bool valid = proto::valid_e164(raw);
  const auto number = seal_number(raw);
  if (!valid)
    return done(AdminError{400, "invalid_number", "the client number must be E.164: '+' and 8-15 digits"});
  if (!proto::valid_alias(method))
    return done(AdminError{400, "bad_request", "method is 2-32 characters of a-z, 0-9, '_' and '-', e.g. \"ktp_selfie\""});
  submit([number, method = std::move(method), now = clock_.now()](
             store::Store& st) { st.verify_client(number->view(), method, now); },
         [done = std::move(done)](std::exception_ptr e) {
           if (e) return done(AdminError{500, "internal", "the verification could not be stored"});
           spdlog::info("[admin] a client was verified");
           done(std::nullopt);
         });
}

void SessionManager::restrict_client(std::string raw, bool restricted,
                                     std::function<void(std::optional<AdminError>)> done) {
  const bool valid = proto::valid_e164(raw);
  const auto number = seal_number(raw);
  if (!valid)
    return done(AdminError{400, "invalid_number", "the client number must be E.164: '+' and 8-15 digits"});
  submit([number, restricted, now = clock_.now()](
             store::Store& st) { st.set_restricted(number->view(), restricted, now); },
         [done = std::move(done), restricted](std::exception_ptr e) {
           if (e) return done(AdminError{500, "internal", "the restriction could not be stored"});
           spdlog::info("[admin] a client was {} by hand", restricted ? "restricted" : "released");
           done(std::nullopt);
         });
}

void SessionManager::erase_client(std::string raw, std::function<void(std::optional<AdminError>)> done) {
  const bool valid = proto::valid_e164(raw);
  const auto number = seal_number(raw);
  if (!valid)
    return done(AdminError{400, "invalid_number", "the client number must be E.164: '+' and 8-15 digits"});
  auto ended = std::make_shared<std::vector<std::string>>();
  auto client = std::make_shared<std::int64_t>(0);
  // One job finds, tears down and erases, so a booking cannot slip in between.
  submit(
      [number, ended, client, now = clock_.now()](store::Store& st) {
        *client = st.find_client(number->view()).value_or(0);
        *ended = st.erase_client(number->view(), now);
        st.request_checkpoint(true);
      },
      [this, ended, client, done = std::move(done)](std::exception_ptr e) {
        if (e) return done(AdminError{500, "internal", "the client could not be erased"});
        // Notices still queued for them (an expiry or ended notice waiting
        // for the gateway) go too, with the number they held.
        if (sms_) sms_->drop_client(*client);
        for (const auto& id : *ended) {
          auto it = live_.find(id);
          if (it == live_.end()) continue;
          it->second.rec.close_reason = "client_erased";
          close_now(id, false);
        }
        spdlog::info("[admin] client erasure done ({} live sessions ended)", ended->size());
        done(std::nullopt);
      });
}

std::optional<AdminError> SessionManager::end_by_operator(const std::string& session) {
  auto it = live_.find(session);
  if (it == live_.end()) return AdminError{404, "unknown_session", "no such live session"};
  begin_close(it->second, "ended_by_operator");
  return std::nullopt;
}

// ---------------------------------------------------------------- SMS

std::string SessionManager::route_key(std::string_view number, std::string_view proxy) const {
  return key_of(keys_.blind_index(number)) + std::string(proxy);
}

void SessionManager::add_route(Live& s) {
  if (!sms_ || s.rec.proxy_number.empty() || !s.rec.client_number) return;
  s.route = route_key(s.rec.client_number->view(), s.rec.proxy_number);
  sms_routes_[s.route] = s.rec.id;
  metrics_.proxy_sessions(s.rec.proxy_number, 1);
}

void SessionManager::remove_route(Live& s) {
  if (s.route.empty()) return;
  if (auto it = sms_routes_.find(s.route); it != sms_routes_.end() && it->second == s.rec.id) sms_routes_.erase(it);
  metrics_.proxy_sessions(s.rec.proxy_number, -1);
  s.route.clear();
  sms_->drop_session(s.rec.id);
}

void SessionManager::send_sms(Live& s, std::int64_t seq, std::string text, std::function<void()> accepted) {
  sms_->send(OutboundSms{s.rec.proxy_number, s.rec.client_number, std::move(text), s.rec.id, s.rec.client_id,
                         [this, session = s.rec.id, seq, accepted = std::move(accepted)] {
                           // The body is cleared as if the client had acknowledged it.
                           submit([session, seq](store::Store& st) { st.ack(session, Role::client, seq); });
                           if (accepted) accepted();
                         }});
}

void SessionManager::sms_notice(Live& s, const std::string& text) {
  if (!sms_session(s) || s.client || text.empty()) return;
  auto id = std::make_shared<std::int64_t>(0);
  submit([id, client = s.rec.client_id, proxy = s.rec.proxy_number, text,
          now = clock_.now()](store::Store& st) { *id = st.add_sms_notice(client, proxy, text, now); },
         [this, id, client = s.rec.client_id, proxy = s.rec.proxy_number, to = s.rec.client_number,
          text](std::exception_ptr e) {
           if (e) return spdlog::error("[sms] a notice could not be stored: {}", what(e));
           if (*id == 0) return;  // the client was erased before it was stored
           queue_notice(*id, client, proxy, to, text);
         });
}

void SessionManager::queue_notice(std::int64_t id, std::int64_t client, std::string proxy,
                                  std::shared_ptr<const crypto::ArenaText> to, std::string text) {
  sms_->send(OutboundSms{std::move(proxy), std::move(to), std::move(text), "", client, [this, id] {
                           submit([id](store::Store& st) { st.remove_sms_notice(id); });
                         }});
}

bool SessionManager::is_stop_word(std::string_view text) const {
  const auto first = text.find_first_not_of(" \t\r\n.!");
  if (first == std::string_view::npos) return false;
  const auto last = text.find_last_not_of(" \t\r\n.!");
  const auto word = text.substr(first, last - first + 1);
  const auto lower = [](unsigned char c) { return static_cast<char>(std::tolower(c)); };
  return std::any_of(config_.sms.stop_words.begin(), config_.sms.stop_words.end(), [&](const std::string& w) {
    return w.size() == word.size() &&
           std::equal(w.begin(), w.end(), word.begin(), [&](char a, char b) { return lower(a) == lower(b); });
  });
}

void SessionManager::out_of_session(const std::string& key, const std::string& from, const std::string& proxy) {
  metrics_.sms_out_of_session->Increment();
  spdlog::info("[sms] an SMS to {} from a number without a live session there was not delivered", proxy);
  const auto& reply = config_.sms.out_of_session_reply;
  if (reply.empty()) return;
  const UnixMs now = clock_.now();
  auto [it, fresh] = oos_replied_.try_emplace(key, now);
  if (!fresh && now - it->second < config_.sms.out_of_session_interval.count()) return;
  it->second = now;
  metrics_.sms_out_of_session_replies->Increment();
  sms_->send(OutboundSms{proxy, std::make_shared<const crypto::ArenaText>(*numbers_, from), reply, "", 0, {}});
}

void SessionManager::on_sms(InboundSms in, std::function<void(InboundResult)> done) {
  const auto& cfg = config_.sms;
  const auto refuse = [&](unsigned status, std::string code, std::string message) {
    metrics_.sms_inbound(code);
    spdlog::warn("[sms] refused an inbound SMS ({}): {}", code, message);
    done(InboundResult{status, std::move(code), std::move(message)});
  };
  if (!sms_) return refuse(404, "not_found", "SMS is not enabled on this relay");
  auto from = proto::normalise_number(in.from, cfg.country_code);
  // The client's number, as sent and normalised, is wiped whichever answer goes.
  const proto::WipeOnExit wiped(&in.from, from ? &*from : nullptr);
  if (!from) return refuse(400, "invalid_number", "the sender (from) is not a valid phone number");
  const auto to = proto::normalise_number(in.to, cfg.country_code);
  if (!to) return refuse(400, "invalid_number", "the receiver (to) is not a valid phone number");
  if (std::find(cfg.proxy_numbers.begin(), cfg.proxy_numbers.end(), *to) == cfg.proxy_numbers.end())
    return refuse(404, "unknown_proxy_number", "the receiver (to) is not a proxy number of this relay");
  const auto chars = proto::utf8_length(in.text);
  if (!chars) return refuse(400, "invalid_text", "the text is not valid UTF-8");
  if (in.text.find_first_not_of(" \t\r\n") == std::string::npos) return refuse(400, "empty_text", "the text is empty");
  if (*chars > cfg.max_text_chars)
    return refuse(413, "too_large", fmt::format("the text is over sms.max_text_chars ({})", cfg.max_text_chars));

  const auto key = route_key(*from, *to);
  auto route = sms_routes_.find(key);
  if (route == sms_routes_.end()) {
    out_of_session(key, *from, *to);
    metrics_.sms_inbound("out_of_session");
    return done(InboundResult{200, "out_of_session", "not delivered: no live session for this sender and number"});
  }
  Live& s = live_.at(route->second);
  if (is_stop_word(in.text)) {
    spdlog::info("[sms] the client of session {} sent a stop word", s.rec.id);
    begin_close(s, "ended_by_client");
    // Answered once what begin_close stored has committed.
    return submit([](store::Store&) {}, [this, done = std::move(done)](std::exception_ptr e) {
      if (e) return done(InboundResult{500, "internal", "the session could not be ended"});
      metrics_.sms_inbound("ended");
      done(InboundResult{200, "ended", "the session is ending"});
    });
  }
  const UnixMs now = clock_.now();
  bool redacted = false;
  if (auto refusal = admit(s, Role::client, in.text, redacted, now)) {
    if (refusal->first == ErrorCode::rate_limited) return refuse(429, "rate_limited", std::string(refusal->second));
    if (refusal->first == ErrorCode::contact_details_blocked && !cfg.blocked_notice.empty())
      sms_->send(OutboundSms{s.rec.proxy_number, s.rec.client_number, cfg.blocked_notice, s.rec.id, s.rec.client_id, {}});
    // Deliberately not delivered: a retry would be refused again.
    metrics_.sms_inbound(proto::to_string(refusal->first));
    return done(InboundResult{200, std::string(proto::to_string(refusal->first)), std::string(refusal->second)});
  }
  // Kannel's id makes a retried request store nothing twice.
  std::string send_id = !in.gateway_id.empty() && in.gateway_id.size() <= 56 ? "kannel:" + in.gateway_id
                                                                             : "sms:" + crypto::new_token().substr(0, 24);
  auto a = std::make_shared<Appending>();
  a->session = s.rec.id;
  a->send_id = std::move(send_id);
  a->text = std::move(in.text);
  a->sender = Role::client;
  a->redacted = redacted;
  a->now = now;
  a->then = [this, done = std::move(done)](Live* s, std::exception_ptr e, const Appending& a) {
    const auto& result = a.result;
    if (e) {
      spdlog::error("[sms] an inbound SMS could not be stored: {}", what(e));
      return done(InboundResult{500, "internal", "the message could not be stored"});
    }
    if (!result) {
      metrics_.sms_inbound("out_of_session");
      return done(InboundResult{200, "out_of_session", "not delivered: the session has ended"});
    }
    metrics_.sms_inbound("stored");
    done(InboundResult{200, "stored", "stored for delivery"});
    if (result->duplicate || !s) return;
    spdlog::info("[sms] an SMS from the client of session {} was stored", s->rec.id);
    relay_stored(*s, Role::client, *result, a.text, a.redacted, false);
  };
  append(s, std::move(a));
}

void SessionManager::resume_sms() {
  if (!sms_) return;
  std::vector<std::string> ids;
  for (const auto& [id, s] : live_)
    if (sms_session(s)) ids.push_back(id);
  auto messages = std::make_shared<std::vector<store::StoredMessage>>();
  auto notices = std::make_shared<std::vector<std::pair<store::SmsNotice, std::string>>>();
  submit(
      [ids, messages, notices](store::Store& st) {
        messages->clear();  // a job may run twice (StoreWorker)
        notices->clear();
        for (const auto& id : ids) {
          auto m = st.pending(id, Role::client);
          std::move(m.begin(), m.end(), std::back_inserter(*messages));
        }
        for (auto& n : st.sms_notices())
          if (auto number = st.client_number(n.client_id)) notices->emplace_back(std::move(n), std::move(*number));
      },
      [this, messages, notices](std::exception_ptr e) {
        if (e) return spdlog::error("[sms] the SMS queue could not be read: {}", what(e));
        std::size_t queued = 0;
        for (auto& m : *messages) {
          auto it = live_.find(m.session);
          if (it == live_.end() || it->second.client) continue;
          send_sms(it->second, m.seq, std::move(m.text), {});
          ++queued;
        }
        for (auto& [n, number] : *notices)
          queue_notice(n.id, n.client_id, n.proxy_number, std::make_shared<const crypto::ArenaText>(*numbers_, number),
                       n.text);
        spdlog::info("[sms] resumed {} messages and {} notices for the gateway", queued, notices->size());
      });
}

}  // namespace tirai::relay
