// Fuzz target: one WebSocket text frame from a talent or a client, as the
// relay parses it (proto::parse_frame: JSON, types, sizes, UTF-8), and the
// frames the relay writes back from what it accepted. Invariants: a refusal
// carries a protocol code and a message; an accepted send's text is valid
// UTF-8 within the limit; what the relay writes from accepted input (the
// peer's message, candidates, the error echoing an id) is JSON that reads
// back to the same strings.
#include "fuzz_check.hpp"
#include "proto/frames.hpp"
#include "proto/utf8.hpp"

#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

using namespace tirai::proto;
namespace json = boost::json;

json::object reparse(const std::string& frame) {
  boost::system::error_code ec;
  auto v = json::parse(frame, ec);
  FUZZ_CHECK(!ec);
  FUZZ_CHECK(v.is_object());
  return v.as_object();
}

std::string_view str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  FUZZ_CHECK(v && v->is_string());
  return v->get_string();
}

struct Check {
  const Limits& limits;

  void operator()(const Send& s) const {
    FUZZ_CHECK(valid_utf8(s.text) && valid_utf8(s.id) && valid_utf8(s.session));
    FUZZ_CHECK(utf8_length(s.text).value_or(limits.max_text_chars + 1) <= limits.max_text_chars);
    FUZZ_CHECK(!s.id.empty() && s.id.size() <= 64 * 4);
    const auto o = reparse(message_frame(s.session, 1, "alias", s.text, 0));
    FUZZ_CHECK(str(o, "text") == s.text && str(o, "session") == s.session);
    const auto a = reparse(accepted_frame(s.id, s.session, 1));
    FUZZ_CHECK(str(a, "id") == s.id);
  }
  void operator()(const Call& c) const {
    if (c.action == CallAction::candidate) {
      const auto o = reparse(call_candidate_frame(c.session, c.call, c.candidate));
      const auto* cand = o.if_contains("candidate");
      FUZZ_CHECK(cand && cand->is_object());
      FUZZ_CHECK(str(cand->as_object(), "candidate") == c.candidate.candidate);
    }
    if (c.action == CallAction::sdp) FUZZ_CHECK(valid_utf8(c.sdp));
  }
  void operator()(const Hello& h) const {
    FUZZ_CHECK(valid_utf8(h.alias) && valid_utf8(h.secret) && valid_utf8(h.token) && valid_utf8(h.resume));
  }
  void operator()(const FrameError& e) const {
    FUZZ_CHECK(!e.message.empty());
    const auto o = reparse(error_frame(e.code, e.message, e.id));
    FUZZ_CHECK(str(o, "code") == to_string(e.code));
    if (e.id) FUZZ_CHECK(str(o, "id") == *e.id);
  }
  template <typename Other>
  void operator()(const Other&) const {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view frame(reinterpret_cast<const char*>(data), size);
  // The default limit, and a small one so that the size checks are met often.
  for (const std::size_t max_text : {std::size_t{4096}, std::size_t{8}}) {
    const Limits limits{max_text};
    const auto parsed = parse_frame(frame, limits);
    std::visit(Check{limits}, parsed);
    (void)carries_secret(parsed);
  }
  return 0;
}
