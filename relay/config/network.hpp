#pragma once
#include <boost/asio/ip/address.hpp>

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tirai::relay {

// An address or a network as the config names them (relay.trusted_proxies):
// "127.0.0.1", "10.0.0.0/8", "fd00::/8". An address alone is a network of
// its full length.
class Network {
 public:
  // Nullopt for anything else (a host name, a prefix past the address's length).
  static std::optional<Network> parse(std::string_view s);
  // IPv4 and IPv4-mapped IPv6 addresses match the same IPv4 networks.
  bool contains(const boost::asio::ip::address& a) const;

 private:
  std::array<unsigned char, 16> bytes_{};  // IPv4 as IPv4-mapped IPv6
  unsigned prefix_ = 128;
};

// Parses every entry; nullopt with `error` naming the first entry that is
// neither an address nor a network.
std::optional<std::vector<Network>> parse_networks(const std::vector<std::string>& entries, std::string& error);

}  // namespace tirai::relay
