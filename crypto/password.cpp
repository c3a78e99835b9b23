#include "crypto/password.hpp"

#include "crypto/random.hpp"

#include <sodium.h>

#include <stdexcept>

namespace tirai::crypto {

std::string hash_password(std::string_view secret, const PasswordCost& cost) {
  ensure_sodium();
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, secret.data(), secret.size(), cost.ops, cost.mem_bytes,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    throw std::runtime_error("Argon2id hashing ran out of memory");
  return out;
}

bool verify_password(const std::string& hash, std::string_view secret) {
  ensure_sodium();
  return crypto_pwhash_str_verify(hash.c_str(), secret.data(), secret.size()) == 0;
}

}  // namespace tirai::crypto
