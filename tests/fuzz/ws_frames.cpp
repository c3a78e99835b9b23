// Fuzz target: the relay's WebSocket frame reader (relay/http/ws_frames),
// which reads every byte a client sends after the upgrade. The first byte
// sets the message limit, the second how the rest is cut into reads.
// Invariants: what the reader makes of the bytes (each message and control
// frame, or the close code it fails with) does not depend on how the reads
// cut them; a message is within the limit, a text is valid UTF-8, a control
// payload at most 125 bytes; after a failure nothing is held.
#include "fuzz_check.hpp"
#include "proto/utf8.hpp"
#include "relay/http/ws_frames.hpp"
#include "tests/support/ws_feed.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace {

using namespace tirai::relay::ws;

std::vector<std::string> read_all(std::string bytes, std::size_t max, std::size_t piece) {
  Reader r(max);
  std::vector<std::string> got;
  const bool all_taken = tirai::test::feed_in_pieces(r, bytes, piece, [&](const Step& step) {
    if (step.kind == Step::Kind::fail) {
      FUZZ_CHECK(r.held() == 0);
      FUZZ_CHECK(step.fail == protocol_error || step.fail == bad_payload || step.fail == too_big);
      got.push_back("fail " + std::to_string(step.fail));
      return;
    }
    const auto& in = step.input;
    const std::string_view payload(in.payload.data(), in.payload.size());
    switch (in.kind) {
      case Input::Kind::text:
        FUZZ_CHECK(tirai::proto::valid_utf8(payload));
        [[fallthrough]];
      case Input::Kind::binary:
        FUZZ_CHECK(payload.size() <= max);
        break;
      case Input::Kind::close:
        FUZZ_CHECK(payload.size() <= 123 && tirai::proto::valid_utf8(payload));
        break;
      default:
        FUZZ_CHECK(payload.size() <= 125);
    }
    got.push_back(std::to_string(static_cast<int>(in.kind)) + " " + std::to_string(in.code) + " " +
                  std::string(payload));
  });
  FUZZ_CHECK(all_taken);
  return got;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t max = 1 + static_cast<std::size_t>(data[0]) * 64;
  const std::size_t piece = 1 + data[1] % 32;
  const std::string bytes(reinterpret_cast<const char*>(data) + 2, size - 2);
  const auto whole = read_all(bytes, max, std::max<std::size_t>(bytes.size(), 1));
  FUZZ_CHECK(read_all(bytes, max, piece) == whole);
  return 0;
}
