#include "relay/connections/connections.hpp"

#include "crypto/random.hpp"
#include "proto/identifiers.hpp"
#include "proto/wipe.hpp"
#include "store/store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace tirai::relay {

using proto::ErrorCode;
using proto::Role;

Connections::Connections(SessionCore& core, Worker& worker, const Policy& policy, crypto::PasswordCost cost)
    : core_(core),
      worker_(worker),
      policy_(policy),
      login_guard_(LoginGuard::Limits{policy.login_attempts_per_minute}),
      dummy_hash_(crypto::hash_password(crypto::base64url(crypto::random_bytes(24)), cost)),
      auth_failed_frame_(proto::error_frame(ErrorCode::auth_failed, "authentication failed")) {}

void Connections::on_frame(Peer& p, proto::Inbound&& frame) {
  if (auto* err = std::get_if<proto::FrameError>(&frame)) return core_.reply_error(p, err->code, err->message, err->id);
  if (auto* hello = std::get_if<proto::Hello>(&frame)) return on_hello(p, std::move(*hello));
  if (!p.authenticated) return core_.reply_error(p, ErrorCode::not_allowed, "say hello first");
  if (std::holds_alternative<proto::Logout>(frame)) {
    // Every device of this talent (or the client's every tab) must log in again.
    revoke_tickets({p.role, p.name});
    spdlog::info("[session] {} logged out", p.role == Role::talent ? "talent " + p.name : "client of " + p.name);
    return p.close(CloseCode::normal, "logged out");
  }
  if (auto& h = handlers_[frame.index()]) return h(p, frame);
  core_.reply_error(p, ErrorCode::not_allowed, "not available on this relay");
}

void Connections::fail_auth(Peer& p) {
  core_.metrics().error(ErrorCode::auth_failed);
  p.deliver(auth_failed_frame_);
  p.close(CloseCode::policy, "authentication failed");
}

void Connections::refuse_login(Peer& p, std::string_view why) {
  core_.metrics().error(ErrorCode::rate_limited);
  p.deliver(proto::error_frame(ErrorCode::rate_limited, why));
  p.close(CloseCode::policy, "rate limited");
}

void Connections::on_hello(Peer& p, proto::Hello&& h) {
  if (p.authenticated || p.replay_pending) return core_.reply_error(p, ErrorCode::not_allowed, "already said hello");
  const UnixMs now = core_.clock().now();
  constexpr std::string_view too_many = "too many failed logins; try again in a minute";
  // A hello that needs no hash (a token, or an alias that cannot exist) is
  // checked first: a right token is never refused for other people's failures.
  const auto fail_cheaply = [&] {
    const bool limited = login_guard_.address_limited(p.address, now);
    login_guard_.failed(p.address, {}, now);
    core_.metrics().login_entries->Set(static_cast<double>(login_guard_.tracked()));
    return limited ? refuse_login(p, too_many) : fail_auth(p);
  };
  if (!h.resume.empty()) {
    if (auto owner = tickets_.redeem(h.resume, now); owner && owner->role == h.role) {
      if (h.role == Role::client) {
        if (LiveSession* s = core_.find(owner->name)) return welcome_client(p, *s, std::move(h.resume));
      } else if (core_.talent(owner->name)) {
        return welcome_talent(p, owner->name, std::move(h.resume));
      }
    }
    proto::wipe(h.resume);
    return fail_cheaply();
  }
  if (h.role == Role::client) {
    LiveSession* s = core_.find_by_token(h.token);
    proto::wipe(h.token);
    if (!s) return fail_cheaply();
    return welcome_client(p, *s);
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
  const Talent* t = core_.talent(h.alias);
  const bool known = t != nullptr;
  auto hash = std::make_shared<std::string>(known ? t->secret_hash : dummy_hash_);
  auto ok = std::make_shared<bool>(false);
  p.replay_pending = true;  // blocks a second hello while this one is verified
  worker_.run([hash, secret, ok] { *ok = crypto::verify_password(*hash, secret->view()); },
              [this, pid = p.id, address = p.address, alias = std::move(h.alias), known, hash, ok] {
                login_guard_.hashed();
                const Talent* now_known = core_.talent(alias);
                // The talent may have been removed, or re-enrolled, while we hashed.
                const bool right = known && *ok && now_known && now_known->secret_hash == *hash;
                finish_talent_hello(pid, address, alias, right);
              });
}

void Connections::check_secret(Peer& p, std::string& text, std::function<void(Peer*, bool)> done) {
  auto secret = std::make_shared<crypto::Secret>(crypto::Secret::from(text));
  proto::wipe(text);
  const Talent* t = p.role == Role::talent ? core_.talent(p.name) : nullptr;
  if (!t) return core_.reply_error(p, ErrorCode::not_allowed, "only a talent can delete her account");
  switch (login_guard_.start_hash(p.address, core_.clock().now())) {
    case LoginGuard::Start::go: break;
    case LoginGuard::Start::address_limited:
      return core_.reply_error(p, ErrorCode::rate_limited, "too many failed attempts; try again in a minute");
    case LoginGuard::Start::busy:
      return core_.reply_error(p, ErrorCode::rate_limited, "a secret is being checked already; try again in a moment");
  }
  auto hash = std::make_shared<std::string>(t->secret_hash);
  auto ok = std::make_shared<bool>(false);
  worker_.run([hash, secret, ok] { *ok = crypto::verify_password(*hash, secret->view()); },
              [this, pid = p.id, address = p.address, alias = p.name, hash, ok, done = std::move(done)] {
                login_guard_.hashed();
                const Talent* now_known = core_.talent(alias);
                const bool right = *ok && now_known && now_known->secret_hash == *hash;
                const UnixMs now = core_.clock().now();
                UnixMs wait = 0;
                if (right) login_guard_.succeeded(alias);
                else wait = login_guard_.failed(address, alias, now);
                core_.metrics().login_entries->Set(static_cast<double>(login_guard_.tracked()));
                // A wrong secret is answered as late as a wrong login would be
                // (the per-alias backoff), holding the address's slot till then.
                if (wait > 0) {
                  core_.deadline_added(now + wait);
                  delayed_failures_.emplace(now + wait, DelayedFailure{pid, address, [done](Peer& peer) {
                                                                          done(&peer, false);
                                                                        }});
                  return;
                }
                login_guard_.release(address);
                // The verdict stands even when she is gone meanwhile: a right
                // secret deletes the account whether or not she hears so.
                done(core_.find_peer(pid), right);
              });
}

void Connections::finish_talent_hello(std::uint64_t pid, const std::string& address, const std::string& alias,
                                      bool ok) {
  Peer* peer = core_.find_peer(pid);
  if (ok) {
    login_guard_.release(address);
    login_guard_.succeeded(alias);
    if (!peer) return;
    peer->replay_pending = false;
    return welcome_talent(*peer, alias);
  }
  const UnixMs now = core_.clock().now();
  const UnixMs wait = login_guard_.failed(address, alias, now);
  core_.metrics().login_entries->Set(static_cast<double>(login_guard_.tracked()));
  if (wait > 0) return fail_later(pid, address, now + wait);
  login_guard_.release(address);
  if (!peer) return;
  peer->replay_pending = false;
  fail_auth(*peer);
}

void Connections::fail_later(std::uint64_t pid, std::string address, UnixMs at) {
  core_.deadline_added(at);
  delayed_failures_.emplace(at, DelayedFailure{pid, std::move(address), {}});
}

void Connections::welcome_talent(Peer& p, const std::string& alias, std::string resume) {
  const auto ids = core_.attach_talent(p, alias);
  std::vector<proto::SessionView> views;
  for (const auto& id : ids) views.push_back(core_.view_for(*core_.find(id), Role::talent));
  std::sort(views.begin(), views.end(), [](const auto& a, const auto& b) { return a.expires_at < b.expires_at; });
  if (resume.empty())
    resume = issue_ticket({Role::talent, alias}, core_.clock().now() + core_.config().relay.resume_ttl.count());
  p.deliver(proto::welcome_frame(Role::talent, views, resume, core_.config().calls.enabled));
  proto::wipe(resume);
  spdlog::info("[session] talent {} connected with {} open sessions", alias, ids.size());
  core_.announce_attached(p, ids);
}

void Connections::welcome_client(Peer& p, LiveSession& s, std::string resume) {
  core_.attach_client(p, s);
  // Good until the session could no longer be open; teardown drops it sooner.
  if (resume.empty())
    resume = issue_ticket({Role::client, s.rec.id}, s.rec.expires_at + core_.config().sessions.grace.count());
  p.deliver(proto::welcome_frame(Role::client, {core_.view_for(s, Role::client)}, resume, core_.config().calls.enabled));
  proto::wipe(resume);
  spdlog::info("[session] client {} of session {} connected", s.rec.client_alias, s.rec.id);
  core_.announce_attached(p, {s.rec.id});
}

void Connections::tick(UnixMs now) {
  while (!delayed_failures_.empty() && delayed_failures_.begin()->first <= now) {
    auto node = delayed_failures_.extract(delayed_failures_.begin());
    auto& f = node.mapped();
    login_guard_.release(f.address);
    Peer* peer = core_.find_peer(f.pid);
    if (!peer) continue;
    if (f.answer) {
      f.answer(*peer);
      continue;
    }
    peer->replay_pending = false;
    fail_auth(*peer);
  }
}

void Connections::clock_stepped(UnixMs delta) {
  // A delayed answer to a failed hello still waits what it had left; a
  // ticket lives as long as it had left (the store moves them too).
  shift_keys(delayed_failures_, delta);
  tickets_.shift(delta);
}

std::optional<UnixMs> Connections::next_deadline() const {
  if (delayed_failures_.empty()) return std::nullopt;
  return delayed_failures_.begin()->first;
}

// The store's teardown deletes the session's tickets in its transaction.
void Connections::closed(LiveSession& s) { tickets_.revoke({Role::client, s.rec.id}); }

std::string Connections::issue_ticket(const ResumeTickets::Owner& owner, UnixMs expires_at) {
  auto issued = tickets_.issue(owner, expires_at);
  // Written behind the welcome: a ticket lost to a crash before its commit
  // only means logging in again.
  core_.submit([hash = std::move(issued.hash), evicted = std::move(issued.evicted), owner,
                expires_at](store::Store& st) {
    if (!evicted.empty()) st.delete_ticket(std::span(reinterpret_cast<const std::uint8_t*>(evicted.data()), evicted.size()));
    st.save_ticket({crypto::Bytes(hash.begin(), hash.end()), owner.role == Role::talent ? 0 : 1, owner.name, expires_at});
  });
  return std::move(issued.ticket);
}

void Connections::revoke_tickets(const ResumeTickets::Owner& owner) {
  tickets_.revoke(owner);
  core_.submit([owner](store::Store& st) { st.delete_tickets(owner.role == Role::talent ? 0 : 1, owner.name); });
}

void Connections::load_tickets(const std::vector<store::Store::TicketRecord>& stored) {
  for (const auto& t : stored)
    tickets_.restore(std::string(t.hash.begin(), t.hash.end()), {t.role == 0 ? Role::talent : Role::client, t.owner},
                     t.expires_at);
}

void Connections::purge(UnixMs now) {
  tickets_.purge(now);
  login_guard_.purge(now);
  core_.metrics().login_entries->Set(static_cast<double>(login_guard_.tracked()));
}

}  // namespace tirai::relay
