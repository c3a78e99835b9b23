#pragma once
#include "proto/timefmt.hpp"

#include <string>

namespace tirai::relay {

// Minutes since local midnight at `t` in the IANA time zone `tz` (from the
// system's tzdata). Uses the C library's TZ machinery under a lock; only the
// relay thread calls it, and tiraid's logs are formatted in UTC, so nothing
// else reads TZ meanwhile.
int local_minute_of_day(proto::UnixMs t, const std::string& tz);

}  // namespace tirai::relay
