#pragma once
#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace tirai::crypto {

// Key material or any other secret byte string. Lives in sodium_malloc memory
// (guard pages, never swapped where mlock works) and is wiped when freed.
// Move-only so that a secret has one owner; formats as "[secret]".
class Secret {
 public:
  Secret() = default;
  // Allocates `size` zeroed bytes. Throws std::bad_alloc when sodium_malloc fails.
  explicit Secret(std::size_t size);
  Secret(const std::uint8_t* data, std::size_t size);
  static Secret from(std::string_view bytes) {
    return Secret(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }
  ~Secret();
  Secret(Secret&& o) noexcept : data_(o.data_), size_(o.size_) {
    o.data_ = nullptr;
    o.size_ = 0;
  }
  Secret& operator=(Secret&& o) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;

  std::uint8_t* data() noexcept { return data_; }
  const std::uint8_t* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::span<const std::uint8_t> bytes() const noexcept { return {data_, size_}; }
  std::string_view view() const noexcept { return {reinterpret_cast<const char*>(data_), size_}; }
  // Constant-time comparison.
  bool equals(std::span<const std::uint8_t> other) const noexcept;

 private:
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

// Compares two secrets (tokens) in time independent of where they differ and
// of their lengths: both are hashed first, then the digests compared.
bool secrets_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace tirai::crypto

template <>
struct fmt::formatter<tirai::crypto::Secret> : fmt::formatter<std::string_view> {
  template <typename Ctx>
  auto format(const tirai::crypto::Secret&, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format("[secret]", ctx);
  }
};
