#include "relay/connections/resume_tickets.hpp"

#include "crypto/keyring.hpp"
#include "crypto/random.hpp"

#include <algorithm>

namespace tirai::relay {

std::string ResumeTickets::hash_of(std::string_view ticket) {
  const auto h = crypto::token_hash(ticket);
  return std::string(h.begin(), h.end());
}

ResumeTickets::Issued ResumeTickets::issue(const Owner& owner, proto::UnixMs expires_at) {
  Issued out;
  const auto key = key_of(owner);
  // At most per_owner: the oldest of this owner's goes.
  if (by_owner_.count(key) >= per_owner) {
    auto [first, last] = by_owner_.equal_range(key);
    auto oldest = std::min_element(first, last, [this](const auto& a, const auto& b) {
      return by_hash_.at(a.second).order < by_hash_.at(b.second).order;
    });
    out.evicted = oldest->second;
    by_hash_.erase(oldest->second);
    by_owner_.erase(oldest);
  }
  out.ticket = crypto::new_token();
  out.hash = hash_of(out.ticket);
  restore(out.hash, owner, expires_at);
  return out;
}

void ResumeTickets::restore(std::string hash, const Owner& owner, proto::UnixMs expires_at) {
  by_owner_.emplace(key_of(owner), hash);
  by_hash_.insert_or_assign(std::move(hash), Entry{owner, expires_at, ++issued_});
}

std::optional<ResumeTickets::Owner> ResumeTickets::redeem(std::string_view ticket, proto::UnixMs now) const {
  auto it = by_hash_.find(hash_of(ticket));
  if (it == by_hash_.end() || it->second.expires_at <= now) return std::nullopt;
  return it->second.owner;
}

void ResumeTickets::revoke(const Owner& owner) {
  auto [first, last] = by_owner_.equal_range(key_of(owner));
  for (auto it = first; it != last; ++it) by_hash_.erase(it->second);
  by_owner_.erase(first, last);
}

void ResumeTickets::purge(proto::UnixMs now) {
  for (auto it = by_owner_.begin(); it != by_owner_.end();) {
    auto e = by_hash_.find(it->second);
    if (e == by_hash_.end() || e->second.expires_at <= now) {
      if (e != by_hash_.end()) by_hash_.erase(e);
      it = by_owner_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace tirai::relay
