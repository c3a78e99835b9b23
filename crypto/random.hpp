#pragma once
#include "crypto/encoding.hpp"

#include <string>

namespace tirai::crypto {

// Initialises libsodium once; throws std::runtime_error when it cannot.
void ensure_sodium();

Bytes random_bytes(std::size_t n);
// "s_" + 26 base32 characters from 16 random bytes (design §3).
std::string new_session_id();
// 32 random bytes, base64url: a client token (43 characters).
std::string new_token();
// `n` random characters from [a-z0-9] without look-alikes, for client aliases.
std::string random_alias_suffix(std::size_t n);

}  // namespace tirai::crypto
