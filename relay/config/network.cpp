#include "relay/config/network.hpp"

#include <charconv>

namespace tirai::relay {

namespace ip = boost::asio::ip;

namespace {

std::array<unsigned char, 16> v6_bytes(const ip::address& a) {
  return (a.is_v4() ? ip::make_address_v6(ip::v4_mapped, a.to_v4()) : a.to_v6()).to_bytes();
}

}  // namespace

std::optional<Network> Network::parse(std::string_view s) {
  const auto slash = s.find('/');
  boost::system::error_code ec;
  const auto a = ip::make_address(std::string(s.substr(0, slash)), ec);
  if (ec) return std::nullopt;
  const unsigned length = a.is_v4() ? 32 : 128;
  unsigned prefix = length;
  if (slash != std::string_view::npos) {
    const char* first = s.data() + slash + 1;
    const char* last = s.data() + s.size();
    auto [p, rc] = std::from_chars(first, last, prefix);
    if (rc != std::errc() || p != last || first == last || prefix > length) return std::nullopt;
  }
  Network n;
  n.bytes_ = v6_bytes(a);
  n.prefix_ = a.is_v4() ? prefix + 96 : prefix;
  return n;
}

bool Network::contains(const ip::address& a) const {
  const auto bytes = v6_bytes(a);
  unsigned bits = prefix_;
  for (std::size_t i = 0; i < 16 && bits > 0; ++i, bits = bits >= 8 ? bits - 8 : 0) {
    const unsigned mask = bits >= 8 ? 0xFFu : (0xFFu << (8 - bits)) & 0xFFu;
    if ((bytes[i] & mask) != (bytes_[i] & mask)) return false;
  }
  return true;
}

std::optional<std::vector<Network>> parse_networks(const std::vector<std::string>& entries, std::string& error) {
  std::vector<Network> out;
  for (const auto& e : entries) {
    auto n = Network::parse(e);
    if (!n) {
      error = "\"" + e + "\" is not an address or a network such as \"10.0.0.0/8\"";
      return std::nullopt;
    }
    out.push_back(*n);
  }
  return out;
}

}  // namespace tirai::relay
