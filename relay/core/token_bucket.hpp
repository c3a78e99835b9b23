#pragma once
#include "proto/timefmt.hpp"

#include <algorithm>

namespace tirai::relay {

// Up to `capacity` tokens, refilled evenly over a minute: the message rate
// of a session's side and the login limits of an address or alias.
struct TokenBucket {
  double tokens = 0;
  proto::UnixMs last = 0;

  // The tokens there would be at `now`, without taking any.
  // A clock stepped back refills nothing (and takes nothing back): without
  // the floor, a step of an hour would empty the bucket for an hour.
  double level(double capacity, proto::UnixMs now) const {
    return std::min(capacity, tokens + static_cast<double>(std::max<proto::UnixMs>(now - last, 0)) * capacity / 60'000.0);
  }
  // Takes a token when there is one (a bucket never used starts full);
  // false when it is empty.
  bool take(double capacity, proto::UnixMs now) {
    tokens = last == 0 ? capacity : level(capacity, now);
    last = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  }
};

}  // namespace tirai::relay
