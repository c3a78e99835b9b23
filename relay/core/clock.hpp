#pragma once
#include "proto/timefmt.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <utility>

namespace tirai::relay {

using proto::UnixMs;

// Wall-clock time for the session lifecycle, behind an interface so tests can
// move time (expiry, grace, retention) without sleeping. Beside it, a
// monotonic count, which no one sets: the session core compares the two to
// tell time passing from the system clock being stepped (NTP, an operator's
// `date -s`), and moves its deadlines with a step (SessionCore::tick).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual UnixMs now() const = 0;
  // Milliseconds from an arbitrary origin; only differences mean anything.
  virtual std::int64_t monotonic_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  UnixMs now() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::int64_t monotonic_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

// advance() and set() are time passing (both clocks move); step() is the
// system clock set by someone (only the wall clock moves).
class FakeClock final : public Clock {
 public:
  explicit FakeClock(UnixMs start) : now_(start) {}
  UnixMs now() const override { return now_.load(); }
  std::int64_t monotonic_ms() const override { return mono_.load(); }
  void advance(std::chrono::milliseconds d) {
    now_ += d.count();
    mono_ += d.count();
  }
  void set(UnixMs t) { advance(std::chrono::milliseconds(t - now_.load())); }
  void step(std::chrono::milliseconds d) { now_ += d.count(); }

 private:
  std::atomic<UnixMs> now_;
  std::atomic<std::int64_t> mono_{0};
};

// Moves every key of a deadline map by `delta` (a step of the system
// clock), keeping each entry's value and the entries' order. Nodes are
// moved, not copied: nothing is allocated.
template <typename Value>
void shift_keys(std::multimap<UnixMs, Value>& deadlines, UnixMs delta) {
  std::multimap<UnixMs, Value> moved;
  while (!deadlines.empty()) {
    auto node = deadlines.extract(deadlines.begin());
    node.key() += delta;
    moved.insert(moved.end(), std::move(node));
  }
  deadlines = std::move(moved);
}

}  // namespace tirai::relay
