// Fuzz target: the contact guard (relay/messaging/contact_guard), which
// reads every message of a session with the guard on, in the shapes people
// hide numbers in (spelt digits, look-alike letters, other scripts, format
// characters). Invariants: the spans it finds are in order, not empty, not
// overlapping and inside the text, on character boundaries of valid UTF-8;
// the redacted text is valid UTF-8 when the text was; the digits it carries
// into the next message are digits the text ends in. Its cost on long,
// adversarial text is what libFuzzer's -timeout watches.
#include "fuzz_check.hpp"
#include "proto/utf8.hpp"
#include "relay/messaging/contact_guard.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

bool char_boundary(std::string_view s, std::size_t at) {
  return at == s.size() || (static_cast<unsigned char>(s[at]) & 0xC0) != 0x80;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte: the digits carried from the sender's previous message.
  const std::size_t carried = data[0] % 16;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const tirai::relay::ContactScanner scanner;
  const auto spans = scanner.scan(text, carried);
  const bool utf8 = tirai::proto::valid_utf8(text);
  std::size_t last_end = 0;
  for (const auto& s : spans) {
    FUZZ_CHECK(s.begin < s.end && s.end <= text.size());
    FUZZ_CHECK(s.begin >= last_end);
    if (utf8) FUZZ_CHECK(char_boundary(text, s.begin) && char_boundary(text, s.end));
    last_end = s.end;
  }
  const auto redacted = tirai::relay::ContactScanner::redact(text, spans);
  if (utf8) FUZZ_CHECK(tirai::proto::valid_utf8(redacted));
  if (spans.empty()) FUZZ_CHECK(redacted == text);
  FUZZ_CHECK(tirai::relay::ContactScanner::trailing_digits(text) <= text.size());
  return 0;
}
