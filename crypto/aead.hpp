#pragma once
#include "crypto/encoding.hpp"
#include "crypto/secret.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace tirai::crypto {

inline constexpr std::size_t aead_key_bytes = 32;
inline constexpr std::size_t aead_nonce_bytes = 24;
inline constexpr std::size_t aead_tag_bytes = 16;

// XChaCha20-Poly1305 with a random nonce. Output: nonce || ciphertext || tag.
// `ad` binds the ciphertext to where it lives (table, column, row).
// Throws std::invalid_argument when `key` is not 32 bytes.
Bytes seal(std::span<const std::uint8_t> key, std::span<const std::uint8_t> plaintext, std::string_view ad);
inline Bytes seal(const Secret& key, std::span<const std::uint8_t> plaintext, std::string_view ad) {
  return seal(key.bytes(), plaintext, ad);
}
inline Bytes seal(std::span<const std::uint8_t> key, std::string_view plaintext, std::string_view ad) {
  return seal(key, as_bytes(plaintext), ad);
}
inline Bytes seal(const Secret& key, std::string_view plaintext, std::string_view ad) {
  return seal(key.bytes(), as_bytes(plaintext), ad);
}

// Opens what seal() wrote. nullopt when the key, the associated data or any
// byte of `sealed` is wrong: tampering is an expected failure, not an exception.
std::optional<std::string> open(std::span<const std::uint8_t> key, std::span<const std::uint8_t> sealed,
                                std::string_view ad);
inline std::optional<std::string> open(const Secret& key, std::span<const std::uint8_t> sealed,
                                       std::string_view ad) {
  return open(key.bytes(), sealed, ad);
}
// Opens into `out`, which must be exactly the plaintext's size (a key slot).
bool open_to(std::span<const std::uint8_t> key, std::span<const std::uint8_t> sealed, std::string_view ad,
             std::span<std::uint8_t> out);
std::optional<Secret> open_secret(const Secret& key, std::span<const std::uint8_t> sealed,
                                  std::string_view ad);

// A fresh random 32-byte key.
Secret generate_key();

}  // namespace tirai::crypto
