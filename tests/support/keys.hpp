#pragma once
#include "crypto/keyring.hpp"
#include "crypto/random.hpp"

namespace tirai::test {

// A keyring under a fresh random master key, so that no test can pass by
// reading what another test's keys sealed.
inline crypto::Keyring random_keyring() {
  const auto master = crypto::random_bytes(crypto::master_key_bytes);
  return crypto::Keyring(crypto::Secret(master.data(), master.size()));
}

}  // namespace tirai::test
