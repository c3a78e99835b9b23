#pragma once
#include "crypto/secret.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace tirai::crypto {

// A TURN credential in coturn's `use-auth-secret` scheme (the "TURN REST
// API"): username "<unix expiry>:<opaque id>", password
// base64(HMAC-SHA1(secret, username)). coturn recomputes the password from
// its `static-auth-secret` and refuses a username whose expiry has passed.
// HMAC-SHA1 comes from OpenSSL: libsodium has no SHA-1, and the scheme
// fixes it.
struct TurnCredential {
  std::string username;
  std::string password;
  std::string opaque;  // the id in the username, for finding its allocations later
};

// A new credential valid until `expires_unix` (seconds) under a fresh random
// opaque id (26 base32 characters: it names no alias, session or number,
// since coturn logs it).
TurnCredential new_turn_credential(const Secret& secret, std::int64_t expires_unix);
// The password for `username` (known-answer tests, and the check above).
std::string turn_password(const Secret& secret, std::string_view username);

}  // namespace tirai::crypto
