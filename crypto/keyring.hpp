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
  key_check = 1,    // seals a known value, so a wrong master key is refused at start
  blind_index = 2,  // keyed BLAKE2b over normalised numbers
  // 3 is retired (client tokens were once hashed with a keyed hash).
  data_keys = 4,    // wraps per-session, per-person and alias-retirement keys
};

// What is stored instead of a client token: BLAKE2b-256 of a domain prefix and
// the token. Tokens carry 256 random bits, so no key is needed, and the hash
// does not change when the master key is rotated.
Bytes token_hash(std::string_view token);

// BLAKE2b-256 of `input` keyed with `key` (16 to 64 bytes).
Bytes keyed_hash(const Secret& key, std::string_view input);

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

  const Secret& key_check() const { return key_check_; }
  const Secret& data_key_wrap() const { return data_keys_; }

 private:
  Secret key_check_;
  Secret blind_;
  Secret data_keys_;
};

}  // namespace tirai::crypto
