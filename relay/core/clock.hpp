#pragma once
#include "proto/timefmt.hpp"

#include <atomic>
#include <chrono>

namespace tirai::relay {

using proto::UnixMs;

// Wall-clock time for the session lifecycle, behind an interface so tests can
// move time (expiry, grace, retention) without sleeping.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual UnixMs now() const = 0;
};

class SystemClock final : public Clock {
 public:
  UnixMs now() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(UnixMs start) : now_(start) {}
  UnixMs now() const override { return now_.load(); }
  void advance(std::chrono::milliseconds d) { now_ += d.count(); }
  void set(UnixMs t) { now_ = t; }

 private:
  std::atomic<UnixMs> now_;
};

}  // namespace tirai::relay
