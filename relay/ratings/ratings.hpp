#pragma once
#include "proto/frames.hpp"
#include "relay/core/failure.hpp"
#include "relay/core/session_core.hpp"

#include <functional>
#include <optional>
#include <variant>

namespace tirai::relay {

enum class StandingErrc { invalid_number, bad_method, internal };
std::string_view to_code(StandingErrc e);
using StandingError = Failure<StandingErrc>;
using StandingResult = std::variant<store::ClientStanding, StandingError>;

// Which clients may not be booked under `policy` (their rating).
inline store::RestrictionRule restriction_rule(const Policy& policy) {
  return {policy.restrict_below_rating, policy.restrict_min_ratings};
}

// Ratings and client standing (design §4, §6): a talent rates the client of
// a session that is ending; the operator looks a client up, verifies or
// restricts them. What a talent sees of a client (verified, rating) and
// which clients may not be booked come from here.
class Ratings final : public SessionEvents {
 public:
  Ratings(SessionCore& core, const Policy& policy);

  void on_rate(Peer& p, const proto::Rate& r);
  // The operator's view of a client: verified, restricted, rating, sessions.
  void lookup_client(std::string number, std::function<void(StandingResult)> done);
  // Verify and restrict create the client when the number is new (so an
  // operator can verify or bar someone before a first booking).
  void verify_client(std::string number, std::string method, std::function<void(std::optional<StandingError>)> done);
  void restrict_client(std::string number, bool restricted, std::function<void(std::optional<StandingError>)> done);
  void purge(UnixMs now) override;

 private:
  SessionCore& core_;
  const Policy& policy_;
};

}  // namespace tirai::relay
