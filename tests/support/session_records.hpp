#pragma once
#include "crypto/random.hpp"
#include "store/store.hpp"

#include <cstdint>

namespace tirai::test {

// An open "chat-30m" session of `talent_id` with `client_id`, booked at
// 1000 ms and expiring 30 minutes later, under a random id and token hash:
// every field the store needs to insert it. A test that cares about a field
// sets it itself.
inline store::SessionRecord session_record(std::int64_t talent_id, std::int64_t client_id) {
  store::SessionRecord r;
  r.id = crypto::new_session_id();
  r.talent_id = talent_id;
  r.client_id = client_id;
  r.client_alias = "guest-abcd";
  r.package = "chat-30m";
  r.channels = {"chat"};
  r.state = proto::SessionState::open;
  r.booked_at = 1000;
  r.expires_at = 1000 + 1'800'000;
  r.token_hash = crypto::random_bytes(32);
  return r;
}

}  // namespace tirai::test
