#include "relay/connections/login_guard.hpp"

#include <algorithm>

namespace tirai::relay {

namespace {
constexpr double minute_ms = 60'000.0;
}

LoginGuard::Bucket* LoginGuard::charge(Buckets& map, std::string_view key, double floor, UnixMs now) {
  const double cap = limits_.failures_per_minute;
  auto it = map.find(std::string(key));
  if (it == map.end()) {
    if (tracked() >= limits_.max_tracked) purge(now);
    // Still full of live entries: this one goes uncounted. The hashing
    // queue's bound still holds, so the CPU stays protected.
    if (tracked() >= limits_.max_tracked) return nullptr;
    it = map.emplace(std::string(key), Bucket{cap, now}).first;
  }
  Bucket& b = it->second;
  b.tokens = std::max(floor, b.level(cap, now) - 1);
  b.last = now;
  return &b;
}

LoginGuard::Start LoginGuard::start_hash(const std::string& address, UnixMs now) {
  if (address_limited(address, now)) return Start::address_limited;
  if (hashing_ >= limits_.max_hashing || busy_.count(address)) return Start::busy;
  busy_.insert(address);
  ++hashing_;
  return Start::go;
}

void LoginGuard::hashed() {
  if (hashing_ > 0) --hashing_;
}

void LoginGuard::release(const std::string& address) { busy_.erase(address); }

UnixMs LoginGuard::failed(const std::string& address, std::string_view alias, UnixMs now) {
  if (limits_.failures_per_minute == 0) return 0;
  charge(addresses_, address, 0, now);
  if (alias.empty()) return 0;
  const Bucket* b = charge(aliases_, alias, -limits_.failures_per_minute, now);
  if (!b || b->tokens >= 0) return 0;
  return static_cast<UnixMs>(-b->tokens * minute_ms / limits_.failures_per_minute);
}

bool LoginGuard::address_limited(const std::string& address, UnixMs now) const {
  if (limits_.failures_per_minute == 0) return false;
  auto it = addresses_.find(address);
  return it != addresses_.end() && it->second.level(limits_.failures_per_minute, now) < 1;
}

void LoginGuard::purge(UnixMs now) {
  const double cap = limits_.failures_per_minute;
  const auto refilled = [&](const auto& kv) { return cap == 0 || kv.second.level(cap, now) >= cap; };
  std::erase_if(addresses_, refilled);
  std::erase_if(aliases_, refilled);
}

}  // namespace tirai::relay
