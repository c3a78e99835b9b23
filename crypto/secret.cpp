#include "crypto/secret.hpp"

#include "crypto/random.hpp"

#include <sodium.h>

#include <cstring>
#include <new>

namespace tirai::crypto {

Secret::Secret(std::size_t size) : size_(size) {
  ensure_sodium();
  if (size == 0) return;
  data_ = static_cast<std::uint8_t*>(sodium_malloc(size));
  if (!data_) throw std::bad_alloc();
  sodium_memzero(data_, size);
}

Secret::Secret(const std::uint8_t* data, std::size_t size) : Secret(size) {
  if (size) std::memcpy(data_, data, size);
}

Secret::~Secret() {
  if (data_) sodium_free(data_);  // sodium_free wipes before unmapping
}

Secret& Secret::operator=(Secret&& o) noexcept {
  if (this != &o) {
    if (data_) sodium_free(data_);
    data_ = o.data_;
    size_ = o.size_;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

bool Secret::equals(std::span<const std::uint8_t> other) const noexcept {
  return other.size() == size_ && (size_ == 0 || sodium_memcmp(data_, other.data(), size_) == 0);
}

bool secrets_equal(std::string_view a, std::string_view b) noexcept {
  ensure_sodium();
  unsigned char ha[32], hb[32];
  crypto_generichash(ha, sizeof ha, reinterpret_cast<const unsigned char*>(a.data()), a.size(), nullptr, 0);
  crypto_generichash(hb, sizeof hb, reinterpret_cast<const unsigned char*>(b.data()), b.size(), nullptr, 0);
  return sodium_memcmp(ha, hb, sizeof ha) == 0;
}

}  // namespace tirai::crypto
