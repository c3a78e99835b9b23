#include "relay/booking/booking.hpp"

#include "crypto/random.hpp"
#include "proto/identifiers.hpp"
#include "proto/utf8.hpp"
#include "relay/core/client_number.hpp"
#include "relay/core/local_time.hpp"
#include "relay/ratings/ratings.hpp"

#include <spdlog/spdlog.h>

namespace tirai::relay {

using proto::Role;
using proto::SessionState;

std::string_view to_code(BookingErrc e) {
  switch (e) {
    case BookingErrc::invalid_alias: return "invalid_alias";
    case BookingErrc::weak_secret: return "weak_secret";
    case BookingErrc::alias_taken: return "alias_taken";
    case BookingErrc::unknown_talent: return "unknown_talent";
    case BookingErrc::invalid_number: return "invalid_number";
    case BookingErrc::sms_disabled: return "bad_request";
    case BookingErrc::unknown_package: return "unknown_package";
    case BookingErrc::client_restricted: return "client_restricted";
    case BookingErrc::kyc_required: return "kyc_required";
    case BookingErrc::pool_exhausted: return "pool_exhausted";
    case BookingErrc::unknown_session: return "unknown_session";
    case BookingErrc::internal: return "internal";
  }
  return "internal";
}

namespace {
// A talent's secret: at least this many characters (design §3).
constexpr std::size_t min_secret_chars = 10;


BookingError failure(BookingErrc errc, std::string message) { return {errc, std::move(message)}; }
BookingError not_e164() { return failure(BookingErrc::invalid_number, std::string(not_e164_message)); }
BookingError unknown_talent() { return failure(BookingErrc::unknown_talent, "no such talent"); }
BookingError alias_taken() { return failure(BookingErrc::alias_taken, "that alias is taken"); }
}  // namespace

Bookings::Bookings(SessionCore& core, Worker& worker, const Policy& policy, crypto::PasswordCost cost)
    : core_(core), worker_(worker), policy_(policy), cost_(cost), packages_(core.config().packages) {}

// ---------------------------------------------------------------- talents

void Bookings::add_talent(std::string alias, std::string secret, Done done) {
  const proto::WipeOnExit wiped(&secret);
  if (!proto::valid_alias(alias))
    return done(failure(BookingErrc::invalid_alias, "an alias is 2-32 characters of a-z, 0-9, '_' and '-'"));
  const auto chars = proto::utf8_length(secret);
  if (!chars || *chars < min_secret_chars)
    return done(failure(BookingErrc::weak_secret, fmt::format("a secret must be at least {} characters", min_secret_chars)));
  if (core_.talent(alias)) return done(alias_taken());
  auto hash = std::make_shared<std::string>();
  auto pw = std::make_shared<crypto::Secret>(crypto::Secret::from(secret));
  worker_.run([hash, pw, cost = cost_] { *hash = crypto::hash_password(pw->view(), cost); },
              [this, alias = std::move(alias), hash, done = std::move(done)] {
                if (hash->empty()) return done(failure(BookingErrc::internal, "the secret could not be hashed"));
                auto added = std::make_shared<std::optional<store::TalentRecord>>();
                const UnixMs now = core_.clock().now();
                core_.submit(
                    [alias, hash, now, added](store::Store& st) {
                      if (st.add_talent(alias, *hash, now)) *added = st.talent(alias);
                    },
                    [this, done, added](std::exception_ptr e) {
                      if (e) return done(failure(BookingErrc::internal, "the talent could not be stored"));
                      if (!*added || !core_.enrol(**added)) return done(alias_taken());
                      spdlog::info("[admin] talent {} enrolled", (*added)->alias);
                      done(std::nullopt);
                    });
              });
}

std::vector<TalentInfo> Bookings::talents() const {
  std::vector<TalentInfo> out;
  for (const auto& [alias, t] : core_.talents()) out.push_back({alias, t.peer != nullptr, t.sessions.size(), t.created_at});
  return out;
}

void Bookings::remove_talent(const std::string& alias, Done done) {
  const auto id = core_.remove_talent(alias);
  if (!id) return done(unknown_talent());
  // As for an erasure, the WAL is truncated before the answer: the alias and
  // its hash must not linger in old page images.
  core_.submit(
      [id = *id](store::Store& st) {
        st.remove_talent(id);
        st.request_checkpoint(true);
      },
      [alias, done = std::move(done)](std::exception_ptr e) {
        if (e) return done(failure(BookingErrc::internal, "the talent could not be removed"));
        spdlog::info("[admin] talent {} removed", alias);
        done(std::nullopt);
      });
}

// ---------------------------------------------------------------- sessions

bool Bookings::kyc_window_now() const {
  return policy_.kyc_required_hours &&
         policy_.kyc_required_hours->contains(local_minute_of_day(core_.clock().now(), policy_.timezone));
}

void Bookings::book(BookRequest req, std::function<void(BookResult)> done) {
  const auto sealed = seal_e164(req.client_number);
  if (!sealed) return done(not_e164());
  const auto number = *sealed;
  if (req.sms.value_or(false) && !numbers_)
    return done(failure(BookingErrc::sms_disabled, "SMS is not enabled on this relay ([sms] enabled = false)"));
  const bool sms = numbers_ && req.sms.value_or(true);
  const Talent* t = core_.talent(req.talent);
  if (!t) return done(unknown_talent());
  auto p = packages_.find(req.package);
  if (p == packages_.end()) return done(failure(BookingErrc::unknown_package, "no such package"));

  const UnixMs now = core_.clock().now();
  auto token = crypto::new_token();
  auto rec = std::make_shared<store::SessionRecord>();
  rec->id = crypto::new_session_id();
  rec->talent_id = t->id;
  rec->talent_alias = req.talent;
  rec->package = p->second.name;
  rec->channels = p->second.channels;
  rec->max_messages = p->second.max_messages;
  rec->idle_timeout_ms = p->second.idle_timeout.count();
  rec->call_minutes = p->second.call_minutes;
  rec->client_first = p->second.first_contact == FirstContact::client;
  rec->state = SessionState::open;
  rec->booked_at = now;
  rec->expires_at = now + p->second.duration.count();
  rec->token_hash = crypto::token_hash(token);
  const bool kyc = p->second.kyc_required || kyc_window_now();
  auto refusal = std::make_shared<std::optional<BookingError>>();
  // The checks and the insert are one store job, so that a verification or
  // restriction the operator just made is seen, and nothing slips in between.
  // No pool: no proxy number for this booking.
  const auto& sms_config = core_.config().sms;
  const store::ProxyChoice pool{sms ? &sms_config.proxy_numbers : nullptr,
                                sms_config.number_selection == NumberSelection::avoid_sticky};
  core_.submit(
      [rec, refusal, number, now, kyc, rule = restriction_rule(policy_), mode = core_.config().sessions.client_alias,
       pool](store::Store& st) {
        const auto known = st.find_client(number->view());
        const auto standing = known ? st.standing(*known, rule) : store::ClientStanding{};
        if (standing.restricted) {
          *refusal = failure(BookingErrc::client_restricted, "this client may not be booked");
          return;
        }
        if (kyc && !standing.verified) {
          *refusal = failure(BookingErrc::kyc_required, "this client must be verified before this booking");
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
            *refusal = failure(BookingErrc::pool_exhausted,
                               "every proxy number is already in a live session of this client");
            return;
          }
          rec->proxy_number = std::move(*proxy);
          st.remember_proxy(rec->client_id, rec->talent_id, rec->proxy_number, now);
        }
        st.insert_session(*rec);
      },
      [this, rec, refusal, number, token = std::move(token), done = std::move(done)](std::exception_ptr e) {
        if (e) {
          spdlog::error("[session] booking failed: {}", describe(e));
          return done(failure(BookingErrc::internal, "the session could not be stored"));
        }
        if (*refusal) return done(**refusal);
        if (!core_.talent(rec->talent_alias)) {
          // Removed while we stored it: tear the new session straight down.
          core_.submit([id = rec->id, now = core_.clock().now()](store::Store& st) { st.teardown(id, "talent_removed", now); });
          return done(unknown_talent());
        }
        if (!rec->proxy_number.empty())
          rec->client_number = std::make_shared<const crypto::ArenaText>(*numbers_, number->view());
        auto& s = core_.open(*rec);
        if (Peer* talent = core_.talent_peer(s))
          talent->deliver(proto::session_booked_frame(core_.view_for(s, Role::talent)));
        spdlog::info("[session] {} booked: talent {}, client {}, package {}{}", rec->id, rec->talent_alias,
                     rec->client_alias, rec->package, rec->proxy_number.empty() ? "" : ", proxy " + rec->proxy_number);
        done(Booking{rec->id, rec->client_alias, token, rec->expires_at, rec->proxy_number});
      });
}

std::optional<BookingError> Bookings::end_by_operator(const std::string& session) {
  LiveSession* s = core_.find(session);
  if (!s) return failure(BookingErrc::unknown_session, "no such live session");
  core_.begin_close(*s, "ended_by_operator");
  return std::nullopt;
}

// ---------------------------------------------------------------- clients

void Bookings::erase_client(std::string raw, Done done) {
  const auto sealed = seal_e164(raw);
  if (!sealed) return done(not_e164());
  auto ended = std::make_shared<std::vector<std::string>>();
  auto client = std::make_shared<std::int64_t>(0);
  // One job finds, tears down and erases, so a booking cannot slip in between.
  core_.submit(
      [number = *sealed, ended, client, now = core_.clock().now()](store::Store& st) {
        *client = st.find_client(number->view()).value_or(0);
        *ended = st.erase_client(number->view(), now);
        st.request_checkpoint(true);
      },
      [this, ended, client, done = std::move(done)](std::exception_ptr e) {
        if (e) return done(failure(BookingErrc::internal, "the client could not be erased"));
        // What was still queued for them (an expiry or ended notice waiting
        // for the gateway) goes too, with the number it held.
        core_.client_erased(*client, *ended);
        spdlog::info("[admin] client erasure done ({} live sessions ended)", ended->size());
        done(std::nullopt);
      });
}

}  // namespace tirai::relay
