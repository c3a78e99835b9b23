#pragma once
#include "crypto/encoding.hpp"
#include "crypto/secret.hpp"

#include <filesystem>
#include <string_view>

namespace tirai::crypto {

inline constexpr std::size_t master_key_bytes = 32;
inline constexpr std::size_t blind_index_bytes = 32;

// The subkeys derived from the master key with crypto_kdf (context "tirai-v1").
// Changing an id invalidates everything stored under it.
enum class Subkey : std::uint64_t {
  numbers = 1,      // XChaCha20-Poly1305 for real phone numbers
  blind_index = 2,  // keyed BLAKE2b over normalised numbers
  tokens = 3,       // keyed BLAKE2b over client tokens
  data_keys = 4,    // wraps per-session data keys
};

// Every key the relay uses at rest, derived once from the master key. The
// master key itself is not kept after derivation.
class Keyring {
 public:
  explicit Keyring(const Secret& master);

  // Reads the 32-byte master key file, creating it (and its folder) with mode
  // 0600 when missing. Throws std::runtime_error when the file is readable by
  // group or others, has the wrong size, or cannot be read or written.
  static Keyring load_or_create(const std::filesystem::path& file);

  static Secret derive(const Secret& master, Subkey id);

  // Keyed BLAKE2b-256 of a normalised number: equal numbers give equal
  // indexes, and nothing about the number is learnt without the key.
  Bytes blind_index(std::string_view normalised_number) const;
  // Keyed BLAKE2b-256 of a client token: what is stored instead of the token.
  Bytes token_hash(std::string_view token) const;

  const Secret& number_key() const { return numbers_; }
  const Secret& data_key_wrap() const { return data_keys_; }

 private:
  Secret numbers_;
  Secret blind_;
  Secret tokens_;
  Secret data_keys_;
};

}  // namespace tirai::crypto
