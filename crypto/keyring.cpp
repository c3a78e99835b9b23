#include "crypto/keyring.hpp"

#include "crypto/random.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/std.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace tirai::crypto {

Bytes keyed_hash(const Secret& key, std::string_view input) {
  ensure_sodium();
  Bytes out(blind_index_bytes);
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(input.data()),
                     input.size(), key.data(), key.size());
  return out;
}

namespace {
constexpr char kdf_context[crypto_kdf_CONTEXTBYTES + 1] = "tirai-v1";

[[noreturn]] void fail(const std::filesystem::path& file, std::string_view what) {
  throw std::runtime_error(fmt::format("master key file {}: {}", file, what));
}
}  // namespace

Secret Keyring::derive(const Secret& master, Subkey id) {
  ensure_sodium();
  if (master.size() != master_key_bytes) throw std::invalid_argument("master key must be 32 bytes");
  Secret out(32);
  crypto_kdf_derive_from_key(out.data(), out.size(), static_cast<std::uint64_t>(id), kdf_context,
                             master.data());
  return out;
}

Keyring::Keyring(const Secret& master)
    : key_check_(derive(master, Subkey::key_check)),
      blind_(derive(master, Subkey::blind_index)),
      data_keys_(derive(master, Subkey::data_keys)) {}

Bytes Keyring::blind_index(std::string_view normalised_number) const {
  return keyed_hash(blind_, normalised_number);
}

Bytes token_hash(std::string_view token) {
  ensure_sodium();
  static constexpr std::string_view domain = "tirai client token v1:";
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, blind_index_bytes);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(domain.data()), domain.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(token.data()), token.size());
  Bytes out(blind_index_bytes);
  crypto_generichash_final(&st, out.data(), out.size());
  return out;
}

Keyring Keyring::load_or_create(const std::filesystem::path& file) {
  ensure_sodium();
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    if (file.has_parent_path()) {
      std::filesystem::create_directories(file.parent_path(), ec);
      if (ec) fail(file, fmt::format("cannot create its folder: {}", ec.message()));
    }
    Secret fresh(master_key_bytes);
    crypto_kdf_keygen(fresh.data());
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) fail(file, std::strerror(errno));
    const bool ok = ::write(fd, fresh.data(), fresh.size()) == static_cast<ssize_t>(fresh.size()) &&
                    ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) fail(file, "cannot be written");
  }
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(file, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    fail(file, std::strerror(errno));
  }
  if (st.st_mode & 077) {
    ::close(fd);
    fail(file, fmt::format("permissions {:o} are too wide; run chmod 600 on it", st.st_mode & 0777));
  }
  Secret master(master_key_bytes);
  std::uint8_t extra;
  const ssize_t n = ::read(fd, master.data(), master.size());
  const ssize_t more = ::read(fd, &extra, 1);
  ::close(fd);
  if (n != static_cast<ssize_t>(master_key_bytes) || more != 0) fail(file, "must hold exactly 32 bytes");
  return Keyring(master);
}

}  // namespace tirai::crypto
