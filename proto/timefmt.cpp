#include "proto/timefmt.hpp"

#include <fmt/format.h>

#include <charconv>

namespace tirai::proto {

namespace {
// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool read_int(std::string_view s, std::size_t pos, std::size_t len, int& out) {
  if (pos + len > s.size()) return false;
  auto [p, ec] = std::from_chars(s.data() + pos, s.data() + pos + len, out);
  return ec == std::errc{} && p == s.data() + pos + len;
}

// The civil date of a day count since 1970-01-01 (H. Hinnant's algorithm).
struct Civil {
  std::int64_t year;
  unsigned month, day;
};
Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

// Writes `v` as exactly `n` decimal digits at `p`.
void digits(char* p, unsigned v, int n) {
  for (int i = n - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}
}  // namespace

std::string rfc3339(UnixMs t) {
  std::string out;
  append_rfc3339(out, t);
  return out;
}

// Every message frame carries a time, so this is written by hand: no time
// zone lookup, no format string.
void append_rfc3339(std::string& out, UnixMs t) {
  std::int64_t days = t / 86'400'000;
  std::int64_t rest = t % 86'400'000;
  if (rest < 0) {
    rest += 86'400'000;
    days -= 1;
  }
  const auto date = civil_from_days(days);
  if (date.year < 0 || date.year > 9999) {  // not a time tirai ever writes; still well-formed
    out += fmt::format("{:04}-{:02}-{:02}T", date.year, date.month, date.day);
  } else {
    char buf[11];
    digits(buf, static_cast<unsigned>(date.year), 4);
    buf[4] = '-';
    digits(buf + 5, date.month, 2);
    buf[7] = '-';
    digits(buf + 8, date.day, 2);
    buf[10] = 'T';
    out.append(buf, sizeof buf);
  }
  const auto ms = static_cast<unsigned>(rest);
  char buf[13];
  digits(buf, ms / 3'600'000, 2);
  buf[2] = ':';
  digits(buf + 3, ms / 60'000 % 60, 2);
  buf[5] = ':';
  digits(buf + 6, ms / 1000 % 60, 2);
  buf[8] = '.';
  digits(buf + 9, ms % 1000, 3);
  buf[12] = 'Z';
  out.append(buf, sizeof buf);
}

std::optional<UnixMs> parse_rfc3339(std::string_view s) {
  int y, mo, d, h, mi, se;
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
    return std::nullopt;
  if (!read_int(s, 0, 4, y) || !read_int(s, 5, 2, mo) || !read_int(s, 8, 2, d) ||
      !read_int(s, 11, 2, h) || !read_int(s, 14, 2, mi) || !read_int(s, 17, 2, se))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return std::nullopt;
  std::size_t pos = 19;
  int ms = 0;
  if (s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 3) ms = ms * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    for (int k = digits; k < 3; ++k) ms *= 10;
  }
  if (pos + 1 != s.size() || s[pos] != 'Z') return std::nullopt;
  const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return ((days * 86400 + h * 3600 + mi * 60 + se) * 1000) + ms;
}

}  // namespace tirai::proto
