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
  double level(double capacity, proto::UnixMs now) const {
    return std::min(capacity, tokens + static_cast<double>(now - last) * capacity / 60'000.0);
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
