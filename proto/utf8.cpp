#include "proto/utf8.hpp"

#include <cstdint>
#include <cstring>

namespace tirai::proto {

namespace {

// Reads the code point at s[i], advancing i; false on malformed input.
bool next_code_point(std::string_view s, std::size_t& i, char32_t& cp) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const unsigned char c = p[i];
  if (c < 0x80) {
    cp = c;
    ++i;
    return true;
  }
  std::size_t len;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return false;
  }
  if (i + len > s.size()) return false;
  for (std::size_t k = 1; k < len; ++k) {
    const unsigned char cc = p[i + k];
    if ((cc & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (cc & 0x3F);
  }
  // Overlong encodings, surrogates and code points past U+10FFFF.
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
      (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
    return false;
  i += len;
  return true;
}

}  // namespace

std::optional<std::size_t> utf8_length(std::string_view s) noexcept {
  std::size_t count = 0;
  char32_t cp;
  std::size_t i = 0;
  while (i < s.size()) {
    // Most text is ASCII: eight bytes at a time while none has its high bit.
    if (i + 8 <= s.size()) {
      std::uint64_t word;
      std::memcpy(&word, s.data() + i, sizeof word);
      if ((word & 0x8080'8080'8080'8080ULL) == 0) {
        i += 8;
        count += 8;
        continue;
      }
    }
    if (!next_code_point(s, i, cp)) return std::nullopt;
    ++count;
  }
  return count;
}

bool valid_utf8(std::string_view s) noexcept { return utf8_length(s).has_value(); }

std::optional<std::u32string> utf8_decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  char32_t cp;
  for (std::size_t i = 0; i < s.size();) {
    if (!next_code_point(s, i, cp)) return std::nullopt;
    out.push_back(cp);
  }
  return out;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace tirai::proto
