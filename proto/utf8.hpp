#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tirai::proto {

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(std::string_view s) noexcept;

// Number of code points in `s`; nullopt when `s` is not valid UTF-8.
std::optional<std::size_t> utf8_length(std::string_view s) noexcept;

// The code points of `s`; nullopt when `s` is not valid UTF-8.
std::optional<std::u32string> utf8_decode(std::string_view s);

// Appends the UTF-8 form of `cp` (which must be a scalar value) to `out`.
void utf8_append(std::string& out, char32_t cp);

}  // namespace tirai::proto
