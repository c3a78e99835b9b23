#pragma once
#include <cstddef>
#include <optional>
#include <string_view>

namespace tirai::proto {

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(std::string_view s) noexcept;

// Number of code points in `s`; nullopt when `s` is not valid UTF-8.
std::optional<std::size_t> utf8_length(std::string_view s) noexcept;

}  // namespace tirai::proto
