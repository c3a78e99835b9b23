#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tirai::proto {

// Milliseconds since the Unix epoch, UTC: the one time type on the wire and on disk.
using UnixMs = std::int64_t;

// RFC 3339 UTC with milliseconds, e.g. "2026-11-22T08:40:36.123Z".
std::string rfc3339(UnixMs t);
// Appends rfc3339(t) to `out`.
void append_rfc3339(std::string& out, UnixMs t);

// Parses what rfc3339() writes (fraction optional, "Z" required); nullopt otherwise.
std::optional<UnixMs> parse_rfc3339(std::string_view s);

}  // namespace tirai::proto
