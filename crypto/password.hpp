#pragma once
#include <string>
#include <string_view>

namespace tirai::crypto {

// Argon2id cost. The defaults are libsodium's "interactive" limits; tests may
// lower them (the stored string records its own cost, so verify needs none).
struct PasswordCost {
  unsigned long long ops = 2;
  std::size_t mem_bytes = 64u << 20;
};

// Hashes a talent secret with Argon2id. Throws std::runtime_error when memory
// for the hash cannot be had.
std::string hash_password(std::string_view secret, const PasswordCost& cost = {});

// True when `secret` matches `hash`; false for a mismatch or a malformed hash.
bool verify_password(const std::string& hash, std::string_view secret);

}  // namespace tirai::crypto
