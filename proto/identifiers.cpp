#include "proto/identifiers.hpp"

namespace tirai::proto {

namespace {
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || is_digit(c); }
bool is_base32(char c) { return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'); }
}  // namespace

bool valid_alias(std::string_view a) noexcept {
  if (a.size() < 2 || a.size() > 32 || !is_lower_alnum(a[0])) return false;
  for (char c : a.substr(1))
    if (!is_lower_alnum(c) && c != '_' && c != '-') return false;
  return true;
}

bool valid_session_id(std::string_view id) noexcept {
  if (id.size() != 28 || id[0] != 's' || id[1] != '_') return false;
  for (char c : id.substr(2))
    if (!is_base32(c)) return false;
  return true;
}

bool valid_e164(std::string_view n) noexcept {
  if (n.size() < 9 || n.size() > 16 || n[0] != '+' || n[1] == '0') return false;
  for (char c : n.substr(1))
    if (!is_digit(c)) return false;
  return true;
}

std::optional<std::string> normalise_number(std::string_view raw, std::string_view country_code) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') continue;
    if (c == '+' && out.empty()) {
      out.push_back('+');
      continue;
    }
    if (!is_digit(c)) return std::nullopt;
    out.push_back(c);
  }
  if (out.starts_with("00")) out.replace(0, 2, "+");
  else if (out.starts_with("0") && !country_code.empty()) out.replace(0, 1, "+" + std::string(country_code));
  else if (!out.empty() && out.front() != '+') out.insert(0, "+");
  if (!valid_e164(out)) return std::nullopt;
  return out;
}

}  // namespace tirai::proto
