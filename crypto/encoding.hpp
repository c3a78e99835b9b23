#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tirai::crypto {

using Bytes = std::vector<std::uint8_t>;

inline std::span<const std::uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// RFC 4648 base32, lowercase, no padding (session ids).
std::string base32_lower(std::span<const std::uint8_t> data);
// RFC 4648 base64url without padding (tokens).
std::string base64url(std::span<const std::uint8_t> data);
// Decodes base64url without padding; nullopt on any invalid character or length.
std::optional<Bytes> from_base64url(std::string_view s);
std::string hex(std::span<const std::uint8_t> data);
std::optional<Bytes> from_hex(std::string_view s);

}  // namespace tirai::crypto
