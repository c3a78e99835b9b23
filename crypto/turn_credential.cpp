#include "crypto/turn_credential.hpp"

#include "crypto/random.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>

namespace tirai::crypto {

std::string turn_password(const Secret& secret, std::string_view username) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (!HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()),
            reinterpret_cast<const unsigned char*>(username.data()), username.size(), mac, &mac_len))
    throw std::runtime_error("HMAC-SHA1 failed");
  // 20 bytes give 28 characters of base64 with padding, as coturn expects.
  unsigned char text[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  const int n = EVP_EncodeBlock(text, mac, static_cast<int>(mac_len));
  return {reinterpret_cast<const char*>(text), static_cast<std::size_t>(n)};
}

TurnCredential new_turn_credential(const Secret& secret, std::int64_t expires_unix) {
  TurnCredential c;
  c.opaque = base32_lower(random_bytes(16));
  c.username = std::to_string(expires_unix) + ":" + c.opaque;
  c.password = turn_password(secret, c.username);
  return c;
}

}  // namespace tirai::crypto
