#include "relay/ratings/ratings.hpp"

#include "proto/identifiers.hpp"
#include "relay/core/client_number.hpp"

#include <spdlog/spdlog.h>

namespace tirai::relay {

using proto::ErrorCode;
using proto::Role;

std::string_view to_code(StandingErrc e) {
  switch (e) {
    case StandingErrc::invalid_number: return "invalid_number";
    case StandingErrc::bad_method: return "bad_request";
    case StandingErrc::internal: return "internal";
  }
  return "internal";
}

namespace {
StandingError not_e164() { return {StandingErrc::invalid_number, std::string(not_e164_message)}; }
}  // namespace

Ratings::Ratings(SessionCore& core, const Policy& policy) : core_(core), policy_(policy) {}

void Ratings::on_rate(Peer& p, const proto::Rate& r) {
  if (p.role != Role::talent) return core_.reply_error(p, ErrorCode::not_allowed, "only talents rate clients");
  const Talent* t = core_.talent(p.name);
  if (!t) return core_.reply_error(p, ErrorCode::not_in_session, "no such session");
  auto result = std::make_shared<store::RateResult>(store::RateResult::unknown);
  core_.submit(
      [session = r.session, talent_id = t->id, score = r.score, now = core_.clock().now(),
       window = policy_.rating_window.count(), result](store::Store& st) {
        *result = st.rate(session, talent_id, score, now, window);
      },
      [this, pid = p.id, session = r.session, score = r.score, result](std::exception_ptr e) {
        Peer* peer = core_.find_peer(pid);
        if (!peer) return;
        if (e) return core_.reply_error(*peer, ErrorCode::internal, "the rating could not be stored");
        switch (*result) {
          case store::RateResult::ok: return peer->deliver(proto::rated_frame(session, score));
          case store::RateResult::unknown: return core_.reply_error(*peer, ErrorCode::not_in_session, "no such session");
          case store::RateResult::not_closing:
            return core_.reply_error(*peer, ErrorCode::not_allowed, "a client is rated once the session is ending");
          case store::RateResult::too_late:
            return core_.reply_error(*peer, ErrorCode::not_allowed, "the rating window has passed");
          case store::RateResult::already:
            return core_.reply_error(*peer, ErrorCode::not_allowed, "this session is already rated");
        }
      });
}

void Ratings::lookup_client(std::string raw, std::function<void(StandingResult)> done) {
  const auto number = seal_e164(raw);
  if (!number) return done(not_e164());
  auto standing = std::make_shared<store::ClientStanding>();
  core_.submit(
      [number = *number, standing, rule = restriction_rule(policy_)](store::Store& st) {
        if (auto id = st.find_client(number->view())) *standing = st.standing(*id, rule);
      },
      [standing, done = std::move(done)](std::exception_ptr e) {
        if (e) return done(StandingError{StandingErrc::internal, "the client could not be read"});
        done(*standing);
      });
}

void Ratings::verify_client(std::string raw, std::string method, std::function<void(std::optional<StandingError>)> done) {
  const auto number = seal_e164(raw);
  if (!number) return done(not_e164());
  if (!proto::valid_alias(method))
    return done(StandingError{StandingErrc::bad_method,
                              "method is 2-32 characters of a-z, 0-9, '_' and '-', e.g. \"ktp_selfie\""});
  core_.submit([number = *number, method = std::move(method), now = core_.clock().now()](
                   store::Store& st) { st.verify_client(number->view(), method, now); },
               [done = std::move(done)](std::exception_ptr e) {
                 if (e) return done(StandingError{StandingErrc::internal, "the verification could not be stored"});
                 spdlog::info("[admin] a client was verified");
                 done(std::nullopt);
               });
}

void Ratings::restrict_client(std::string raw, bool restricted, std::function<void(std::optional<StandingError>)> done) {
  const auto number = seal_e164(raw);
  if (!number) return done(not_e164());
  core_.submit([number = *number, restricted, now = core_.clock().now()](
                   store::Store& st) { st.set_restricted(number->view(), restricted, now); },
               [done = std::move(done), restricted](std::exception_ptr e) {
                 if (e) return done(StandingError{StandingErrc::internal, "the restriction could not be stored"});
                 spdlog::info("[admin] a client was {} by hand", restricted ? "restricted" : "released");
                 done(std::nullopt);
               });
}

void Ratings::purge(UnixMs now) {
  const UnixMs before = now - policy_.rating_retention.count();
  core_.submit([before](store::Store& st) {
    if (const int n = st.purge_ratings(before)) spdlog::info("[store] purged {} ratings past their retention", n);
  });
}

}  // namespace tirai::relay
