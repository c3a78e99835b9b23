#pragma once
#include <string>
#include <string_view>

namespace tirai::proto {

// Appends `s` to `out` as a quoted JSON string. `s` must be valid UTF-8 (the
// relay validates every string before it is stored); control characters are
// escaped so the output is always one line.
void append_json_string(std::string& out, std::string_view s);

}  // namespace tirai::proto
