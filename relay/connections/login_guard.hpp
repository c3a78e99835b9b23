#pragma once
#include "proto/timefmt.hpp"
#include "relay/core/token_bucket.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace tirai::relay {

using proto::UnixMs;

// Who may try to log in, and how fast. Failures are what is counted: a
// correct secret or token is never refused because somebody else failed.
//
// - Per source address, `failures_per_minute` failed hellos (a token bucket
//   charged on failure only). An address over it gets `rate_limited` for
//   hellos that need Argon2id, before any hashing: the relay is no CPU
//   amplifier for unauthenticated peers.
// - Per source address, one Argon2id verification at a time, and at most
//   `max_hashing` in the hashing queue overall; beyond, `rate_limited`.
// - Per alias, the same bucket of failures; once it is empty, the answer to a
//   further failure waits (up to a minute) while that address's slot stays
//   taken. A right secret is answered at once: backoff, not a lockout.
//
// State exists only for failures, only for aliases of the design's form, and
// is bounded by `max_tracked` entries; entries that have refilled are
// dropped. Runs on the relay thread only.
class LoginGuard {
 public:
  struct Limits {
    int failures_per_minute = 10;  // 0: no limit
    std::size_t max_hashing = 64;
    std::size_t max_tracked = 65536;
  };

  explicit LoginGuard(Limits limits) : limits_(limits) {}
  void set_failures_per_minute(int n) { limits_.failures_per_minute = n; }

  enum class Start { go, address_limited, busy };
  // May `address` start a verification with Argon2id now? On `go` the
  // address's slot is taken and the hashing queue grows by one until
  // hashed(), then the slot until release().
  Start start_hash(const std::string& address, UnixMs now);
  // The hash of the attempt from `address` is done (whatever it found).
  void hashed();
  // Lets the address start another attempt.
  void release(const std::string& address);

  // A failed hello from `address` for `alias` (empty: a client token or an
  // alias that cannot exist). Returns how long its answer waits: 0 unless the
  // alias is over its failures.
  UnixMs failed(const std::string& address, std::string_view alias, UnixMs now);
  // A right secret for `alias`: its failures are forgotten.
  void succeeded(std::string_view alias) { aliases_.erase(std::string(alias)); }
  // Whether `address` has no failures left.
  bool address_limited(const std::string& address, UnixMs now) const;

  // Drops entries that have refilled completely (they carry no information).
  void purge(UnixMs now);
  // Addresses and aliases remembered.
  std::size_t tracked() const { return addresses_.size() + aliases_.size(); }

 private:
  // A failure takes a token. An alias's bucket may go below zero (down to
  // -capacity): the debt is how long its failure's answer waits. An
  // address's stops at zero.
  using Bucket = TokenBucket;
  using Buckets = std::unordered_map<std::string, Bucket>;
  Bucket* charge(Buckets& map, std::string_view key, double floor, UnixMs now);

  Limits limits_;
  Buckets addresses_;
  Buckets aliases_;
  std::unordered_set<std::string> busy_;  // addresses with an attempt under way
  std::size_t hashing_ = 0;
};

}  // namespace tirai::relay
