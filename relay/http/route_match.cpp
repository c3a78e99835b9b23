#include "relay/http/route_match.hpp"

namespace tirai::relay::httpd {

namespace {
// The next segment of `s` (which starts with '/'), and `s` past it.
std::string_view next_segment(std::string_view& s) {
  s.remove_prefix(1);
  const auto end = s.find('/');
  const auto segment = s.substr(0, end);
  s = end == std::string_view::npos ? std::string_view{} : s.substr(end);
  return segment;
}
bool is_param(std::string_view segment) { return segment.size() > 2 && segment.front() == '{' && segment.back() == '}'; }
}  // namespace

bool match_path(std::string_view pattern, std::string_view path, PathParams& params) {
  params.clear();
  if (!pattern.starts_with('/') || !path.starts_with('/')) return false;
  while (!pattern.empty() && !path.empty()) {
    const auto want = next_segment(pattern);
    const auto got = next_segment(path);
    if (is_param(want)) {
      if (got.empty() || !params.push(got)) return false;
    } else if (want != got) {
      return false;
    }
  }
  return pattern.empty() && path.empty();
}

}  // namespace tirai::relay::httpd
