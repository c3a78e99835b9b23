#include "crypto/aead.hpp"

#include "crypto/random.hpp"

#include <sodium.h>

#include <array>
#include <cstring>
#include <stdexcept>

namespace tirai::crypto {

namespace {
void check_key(std::span<const std::uint8_t> key) {
  if (key.size() != crypto_aead_xchacha20poly1305_ietf_KEYBYTES)
    throw std::invalid_argument("AEAD key must be 32 bytes");
}

// Decrypts into `out` (sized for the plaintext); false when authentication fails.
bool open_into(std::span<const std::uint8_t> key, std::span<const std::uint8_t> sealed, std::string_view ad,
               std::uint8_t* out) {
  const std::size_t ct_len = sealed.size() - aead_nonce_bytes;
  unsigned long long out_len = 0;
  return crypto_aead_xchacha20poly1305_ietf_decrypt(
             out, &out_len, nullptr, sealed.data() + aead_nonce_bytes, ct_len,
             reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), sealed.data(),
             key.data()) == 0;
}

// A nonce that no other seal of this process or any other has used, without
// a system call per message: 16 random bytes drawn once per thread, then a
// 64-bit counter. Two nonces can only meet if two threads (of any run) drew
// the same 128 random bits; XChaCha20's 192-bit nonce is what makes this
// safe, as it makes wholly random nonces safe.
void next_nonce(std::uint8_t* out) {
  struct State {
    std::array<std::uint8_t, 16> prefix{};
    std::uint64_t counter = 0;
    State() { randombytes_buf(prefix.data(), prefix.size()); }
  };
  static_assert(aead_nonce_bytes == 16 + sizeof(std::uint64_t));
  thread_local State state;
  std::memcpy(out, state.prefix.data(), state.prefix.size());
  const std::uint64_t n = state.counter++;
  std::memcpy(out + state.prefix.size(), &n, sizeof n);
}
}  // namespace

Bytes seal(std::span<const std::uint8_t> key, std::span<const std::uint8_t> plaintext, std::string_view ad) {
  check_key(key);
  Bytes out(aead_nonce_bytes + plaintext.size() + aead_tag_bytes);
  next_nonce(out.data());
  unsigned long long ct_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      out.data() + aead_nonce_bytes, &ct_len, plaintext.data(), plaintext.size(),
      reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, out.data(), key.data());
  return out;
}

std::optional<std::string> open(std::span<const std::uint8_t> key, std::span<const std::uint8_t> sealed,
                                std::string_view ad) {
  check_key(key);
  if (sealed.size() < aead_nonce_bytes + aead_tag_bytes) return std::nullopt;
  std::string out(sealed.size() - aead_nonce_bytes - aead_tag_bytes, '\0');
  if (!open_into(key, sealed, ad, reinterpret_cast<std::uint8_t*>(out.data()))) return std::nullopt;
  return out;
}

std::optional<Secret> open_secret(const Secret& key, std::span<const std::uint8_t> sealed,
                                  std::string_view ad) {
  check_key(key.bytes());
  if (sealed.size() < aead_nonce_bytes + aead_tag_bytes) return std::nullopt;
  Secret out(sealed.size() - aead_nonce_bytes - aead_tag_bytes);
  if (!open_into(key.bytes(), sealed, ad, out.data())) return std::nullopt;
  return out;
}

bool open_to(std::span<const std::uint8_t> key, std::span<const std::uint8_t> sealed, std::string_view ad,
             std::span<std::uint8_t> out) {
  check_key(key);
  if (sealed.size() != aead_nonce_bytes + out.size() + aead_tag_bytes) return false;
  return open_into(key, sealed, ad, out.data());
}

Secret generate_key() {
  ensure_sodium();
  Secret k(aead_key_bytes);
  crypto_aead_xchacha20poly1305_ietf_keygen(k.data());
  return k;
}

}  // namespace tirai::crypto
