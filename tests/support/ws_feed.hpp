#pragma once
// Feeds bytes to a WebSocket frame reader in reads of `piece` bytes, as a
// socket may cut them: shared by the reader's unit tests and its fuzz
// target (tests/fuzz/ws_frames.cpp).
#include "relay/http/ws_frames.hpp"

#include <algorithm>
#include <span>
#include <string>

namespace tirai::test {

// Calls `on` with each step but `more`, up to and with a failure. Returns
// false if a read was ever left partly unused (the reader must take all).
template <typename OnStep>
bool feed_in_pieces(relay::ws::Reader& reader, std::string& bytes, std::size_t piece, OnStep&& on) {
  using Kind = relay::ws::Step::Kind;
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    std::span<char> chunk(bytes.data() + at, std::min(piece, bytes.size() - at));
    for (;;) {
      const auto step = reader.next(chunk);
      if (step.kind == Kind::more) break;
      on(step);
      if (step.kind == Kind::fail) return true;
    }
    if (!chunk.empty()) return false;
  }
  return true;
}

}  // namespace tirai::test
