#pragma once
// The slow-peer rule. A peer is let go ("peer too slow", 1013) when
// relay.max_outbound_frames frames wait behind a write its socket has not
// finished taking for 2 s, or for 100 ms with 4 MiB waiting. A burst (a store
// group's frames, a replay after reconnecting) is not slow: the socket takes
// it on the next turn of the loop, and no write is under way for long.
#include <chrono>
#include <cstddef>
#include <optional>

namespace tirai::relay {

inline constexpr auto slow_write = std::chrono::seconds(2);
inline constexpr auto slow_write_heavy = std::chrono::milliseconds(100);
inline constexpr std::size_t slow_bytes = 4 * 1024 * 1024;

struct Outbound {
  std::size_t frames_waiting = 0;  // taken since the write under way began
  std::size_t bytes_waiting = 0;
  // How long the write under way has been; none when no write is.
  std::optional<std::chrono::steady_clock::duration> writing_for;
};

inline bool too_slow(const Outbound& out, std::size_t max_outbound_frames) {
  if (out.frames_waiting < max_outbound_frames || !out.writing_for) return false;
  return *out.writing_for >= slow_write || (out.bytes_waiting >= slow_bytes && *out.writing_for >= slow_write_heavy);
}

}  // namespace tirai::relay
