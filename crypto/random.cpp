#include "crypto/random.hpp"

#include <sodium.h>

#include <stdexcept>

namespace tirai::crypto {

void ensure_sodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) throw std::runtime_error("libsodium failed to initialise");
}

Bytes random_bytes(std::size_t n) {
  ensure_sodium();
  Bytes out(n);
  randombytes_buf(out.data(), n);
  return out;
}

std::string new_session_id() { return "s_" + base32_lower(random_bytes(16)); }

std::string new_token() { return base64url(random_bytes(32)); }

std::string random_alias_suffix(std::size_t n) {
  ensure_sodium();
  static constexpr char alphabet[] = "23456789abcdefghjkmnpqrstuvwxyz";  // no 0/o, 1/l/i
  constexpr std::uint32_t size = sizeof(alphabet) - 1;
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(alphabet[randombytes_uniform(size)]);
  return out;
}

}  // namespace tirai::crypto
