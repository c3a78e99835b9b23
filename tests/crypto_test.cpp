#include "crypto/aead.hpp"
#include "crypto/encoding.hpp"
#include "crypto/key_arena.hpp"
#include "crypto/keyring.hpp"
#include "crypto/password.hpp"
#include "crypto/random.hpp"
#include "crypto/secret.hpp"
#include "crypto/turn_credential.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <thread>

using namespace tirai::crypto;

namespace {
Secret secret_from_hex(std::string_view h) {
  auto b = from_hex(h).value();
  return Secret(b.data(), b.size());
}
Secret master_0_to_31() {
  Bytes b(32);
  for (int i = 0; i < 32; ++i) b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i);
  return Secret(b.data(), b.size());
}
}  // namespace

// Expected values computed independently with Python's hashlib.blake2b (salt =
// subkey id little-endian, person = "tirai-v1"), which is how crypto_kdf is specified.
TEST_CASE("crypto_kdf subkeys match known answers", "[crypto]") {
  const auto master = master_0_to_31();
  CHECK(hex(Keyring::derive(master, Subkey::key_check).bytes()) ==
        "1371a2c6084812c179090ee2df7a6019c5f490283b745bee6b7fa0e22cc2a03d");
  CHECK(hex(Keyring::derive(master, Subkey::blind_index).bytes()) ==
        "c3f2301fc0433bb74a9ab1bc639499034e475afc9655fe7764352ad1c681fc7a");
  CHECK(hex(Keyring::derive(master, Subkey::data_keys).bytes()) ==
        "b209e53963c85d50274151585c05193cdb4ce08cd5e0fc41343c52a3e3ce6d0d");
}

TEST_CASE("blind index is keyed BLAKE2b-256 of the number", "[crypto]") {
  Keyring keys(master_0_to_31());
  CHECK(hex(keys.blind_index("+6281234567890")) == "f448df0e3ed86d135f6b18c3a1c7d924850b2ac8582fdd69433689213272a8b5");
  CHECK(keys.blind_index("+6281234567890") == keys.blind_index("+6281234567890"));
  CHECK(keys.blind_index("+6281234567890") != keys.blind_index("+6281234567891"));
  auto other = Keyring(secret_from_hex("ff00000000000000000000000000000000000000000000000000000000000000"));
  CHECK(other.blind_index("+6281234567890") != keys.blind_index("+6281234567890"));
}

// draft-irtf-cfrg-xchacha A.3.1; the ciphertext was recomputed with an
// independent HChaCha20 in Python over the cryptography package's ChaCha20-Poly1305.
TEST_CASE("client tokens are stored as a domain-separated BLAKE2b-256", "[crypto]") {
  // hashlib.blake2b(b"tirai client token v1:" + b"abc", digest_size=32)
  CHECK(hex(token_hash("abc")) == "b9fe55adb0108c2d8b4c22a69983e201b60b69a3da693e41e3564a85a7191ccb");
  CHECK(token_hash("abc") != token_hash("abd"));
}

TEST_CASE("XChaCha20-Poly1305 opens the draft's test vector", "[crypto]") {
  const auto key = secret_from_hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const auto ad = from_hex("50515253c0c1c2c3c4c5c6c7").value();
  const std::string ad_str(ad.begin(), ad.end());
  auto sealed = from_hex("404142434445464748494a4b4c4d4e4f5051525354555657").value();
  const auto ct = from_hex(
                      "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39"
                      "ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
                      "21f9664c97637da9768812f615c68b13b52ec0875924c1c7987947deafd8780acf49")
                      .value();
  sealed.insert(sealed.end(), ct.begin(), ct.end());
  const auto plain = open(key, sealed, ad_str);
  REQUIRE(plain);
  CHECK(*plain ==
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would "
        "be it.");
}

TEST_CASE("AEAD round trip, tampering, wrong associated data and wrong key all fail", "[crypto]") {
  const auto key = generate_key();
  const auto sealed = seal(key, "+6281234567890", "tirai/clients/number_ct/7");
  CHECK(sealed.size() == aead_nonce_bytes + 14 + aead_tag_bytes);
  CHECK(open(key, sealed, "tirai/clients/number_ct/7") == "+6281234567890");
  CHECK_FALSE(open(key, sealed, "tirai/clients/number_ct/8"));
  CHECK_FALSE(open(generate_key(), sealed, "tirai/clients/number_ct/7"));
  for (std::size_t i = 0; i < sealed.size(); i += 7) {
    auto bad = sealed;
    bad[i] ^= 0x01;
    CHECK_FALSE(open(key, bad, "tirai/clients/number_ct/7"));
  }
  CHECK_FALSE(open(key, Bytes(10), "x"));
  CHECK(seal(key, "same", "ad") != seal(key, "same", "ad"));  // fresh nonce each time
}

TEST_CASE("seal never repeats a nonce, within a thread or across threads", "[crypto]") {
  const auto key = generate_key();
  const auto nonces = [&key] {
    std::vector<Bytes> out;
    for (int i = 0; i < 5000; ++i) {
      const auto sealed = seal(key, "x", "ad");
      out.emplace_back(sealed.begin(), sealed.begin() + aead_nonce_bytes);
    }
    return out;
  };
  std::set<Bytes> seen;
  for (auto& n : nonces()) seen.insert(n);
  std::vector<Bytes> other;
  std::thread t([&] { other = nonces(); });
  t.join();
  for (auto& n : other) seen.insert(n);
  CHECK(seen.size() == 10000);
  // Each sealed text opens: the nonce in front is the one it was sealed with.
  CHECK(open(key, seal(key, "halo", "ad"), "ad") == "halo");
}

TEST_CASE("Argon2id hashes verify only the right secret", "[crypto]") {
  const PasswordCost cheap{1, 8u << 20};
  const auto h = hash_password("correct horse battery", cheap);
  CHECK(h.rfind("$argon2id$", 0) == 0);
  CHECK(verify_password(h, "correct horse battery"));
  CHECK_FALSE(verify_password(h, "correct horse batterx"));
  CHECK_FALSE(verify_password("not a hash", "correct horse battery"));
}

TEST_CASE("ids and tokens have their documented shapes", "[crypto]") {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const auto id = new_session_id();
    CHECK(id.size() == 28);
    CHECK(id.rfind("s_", 0) == 0);
    seen.insert(id);
    const auto t = new_token();
    CHECK(t.size() == 43);
    CHECK(from_base64url(t)->size() == 32);
  }
  CHECK(seen.size() == 100);
  CHECK(base32_lower(from_hex("0000000000").value()) == "aaaaaaaa");
  CHECK(base32_lower(as_bytes("foobar")) == "mzxw6ytboi");  // RFC 4648 section 10
  CHECK(base64url(as_bytes("foob")) == "Zm9vYg");
  CHECK_FALSE(from_base64url("Zm9v!g"));
}

TEST_CASE("Secret formats as [secret] and compares in constant time", "[crypto]") {
  auto s = Secret::from("hunter2hunter2");
  CHECK(fmt::format("{}", s) == "[secret]");
  CHECK(s.equals(as_bytes("hunter2hunter2")));
  CHECK_FALSE(s.equals(as_bytes("hunter2hunter3")));
  CHECK(secrets_equal("abc", "abc"));
  CHECK_FALSE(secrets_equal("abc", "abcd"));
  auto moved = std::move(s);
  CHECK(s.empty());
  CHECK(moved.view() == "hunter2hunter2");
}

TEST_CASE("master key file is created 0600 and wider permissions are refused", "[crypto]") {
  tirai::test::TempDir dir;
  const auto file = dir.path() / "keys" / "master.key";
  const auto k1 = Keyring::load_or_create(file);
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(std::filesystem::file_size(file) == 32);
  const auto k2 = Keyring::load_or_create(file);
  CHECK(k1.blind_index("+6281234567890") == k2.blind_index("+6281234567890"));

  ::chmod(file.c_str(), 0644);
  CHECK_THROWS_WITH(Keyring::load_or_create(file), Catch::Contains("too wide"));
  ::chmod(file.c_str(), 0600);
  std::ofstream(file, std::ios::app) << "x";
  CHECK_THROWS_WITH(Keyring::load_or_create(file), Catch::Contains("exactly 32 bytes"));
}

TEST_CASE("the key arena holds more live keys than one mapping per key would allow", "[crypto]") {
  KeyArena arena;
  std::vector<KeyArena::Key> keys;
  // 70,000 keys: one sodium_malloc each would need over 200,000 mappings.
  for (int i = 0; i < 70'000; ++i) keys.push_back(arena.random());
  CHECK(arena.in_use() == 70'000);
  const auto* first = keys.front().bytes().data();
  keys.erase(keys.begin());  // returned, and wiped
  CHECK(arena.in_use() == 69'999);
  auto again = arena.acquire();
  CHECK(again.bytes().data() == first);  // the slot is reused...
  CHECK(std::all_of(again.bytes().begin(), again.bytes().end(), [](auto b) { return b == 0; }));  // ...wiped
  const auto sealed = seal(keys.back().bytes(), "halo", "ad");
  CHECK(open(keys.back().bytes(), sealed, "ad") == "halo");
}

TEST_CASE("TURN credentials follow coturn's use-auth-secret scheme", "[crypto][calls]") {
  // Known answer, computed independently:
  //   printf %s '1796247020:abcDEF123' | openssl dgst -sha1 -hmac s3cretsecretsecret -binary | base64
  const auto secret = Secret::from("s3cretsecretsecret");
  CHECK(turn_password(secret, "1796247020:abcDEF123") == "+HrFsuJj7KhA2zbdaHputVNf0k4=");
  const auto a = new_turn_credential(secret, 1796247020);
  const auto b = new_turn_credential(secret, 1796247020);
  CHECK(a.username == "1796247020:" + a.opaque);
  CHECK(a.opaque.size() == 26);
  CHECK(a.opaque != b.opaque);
  CHECK(a.password == turn_password(secret, a.username));
  CHECK(a.password.size() == 28);
  CHECK(turn_password(Secret::from("another secret"), a.username) != a.password);
}
