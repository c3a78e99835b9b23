#pragma once
#include "proto/frames.hpp"
#include "proto/timefmt.hpp"

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

namespace tirai::relay {

// Resume tickets (design §12): what a web page keeps in its tab's storage
// instead of the talent's secret or the client's token, to say hello again
// after a reload. A ticket is 32 random bytes, given in a welcome; the relay
// keeps only its hash. A ticket names one talent, or one client's session, and dies
// at its expiry, at logout (every ticket of that talent or session), when
// the session is torn down, or when the talent is gone. The store keeps the
// same hashes, so that a restart of the relay (kill -9 included) logs nobody
// out; this class only decides, the caller writes.
class ResumeTickets {
 public:
  struct Owner {
    proto::Role role{};
    std::string name;  // talent alias, or the client's session id
  };
  // Tickets one owner may hold at once (a phone and a laptop, and reloads
  // that raced); the oldest goes first.
  static constexpr std::size_t per_owner = 8;

  struct Issued {
    std::string ticket;   // for the welcome, then wiped
    std::string hash;     // what is kept, here and in the store
    std::string evicted;  // the hash of the owner's oldest ticket, dropped to make room; or empty
  };
  // A new ticket for `owner`, valid until `expires_at`.
  Issued issue(const Owner& owner, proto::UnixMs expires_at);
  // Start-up: a ticket the store kept, by its hash.
  void restore(std::string hash, const Owner& owner, proto::UnixMs expires_at);
  static std::string hash_of(std::string_view ticket);
  // Who `ticket` names, when it is known and not expired at `now`.
  std::optional<Owner> redeem(std::string_view ticket, proto::UnixMs now) const;
  // Drops every ticket of `owner`.
  void revoke(const Owner& owner);
  // Drops what expired before `now`.
  void purge(proto::UnixMs now);
  // The system clock was stepped by `delta`: every ticket expires that much later.
  void shift(proto::UnixMs delta) {
    for (auto& [hash, e] : by_hash_) e.expires_at += delta;
  }
  std::size_t size() const { return by_hash_.size(); }

 private:
  struct Entry {
    Owner owner;
    proto::UnixMs expires_at{};
    std::uint64_t order = 0;  // issue order, to drop an owner's oldest
  };
  static std::string key_of(const Owner& o) { return std::string(proto::to_string(o.role)) + ':' + o.name; }

  std::unordered_map<std::string, Entry> by_hash_;     // hash of the ticket -> entry
  std::multimap<std::string, std::string> by_owner_;  // key_of(owner) -> hash
  std::uint64_t issued_ = 0;
};

}  // namespace tirai::relay
