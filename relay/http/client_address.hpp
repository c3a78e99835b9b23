#pragma once
#include "relay/config/network.hpp"

#include <boost/asio/ip/address.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tirai::relay {

// The key the relay's per-address limits count a source by: an IPv4 address
// as it is (IPv4-mapped IPv6 included), an IPv6 address by its /64, since one
// subscriber commonly holds a whole /64.
std::string limit_key(const boost::asio::ip::address& a);

// The operator's reverse proxies (relay.trusted_proxies): addresses or
// networks ("127.0.0.1", "10.0.0.0/8", "fd00::/8"). Only their
// X-Forwarded-For and Forwarded headers are believed.
class TrustedProxies {
 public:
  TrustedProxies() = default;
  // Parses the configured entries; nullopt with `error` naming the bad entry.
  static std::optional<TrustedProxies> parse(const std::vector<std::string>& entries, std::string& error);

  bool empty() const { return nets_.empty(); }
  bool contains(const boost::asio::ip::address& a) const;

  // The address a connection's limits count: `peer` itself unless it is a
  // trusted proxy; then the rightmost address of X-Forwarded-For (else of
  // Forwarded's for=) that is not a trusted proxy, since everything left of
  // it was written by whoever connected to our proxy and may be forged. A
  // header that cannot be read counts as the peer.
  boost::asio::ip::address client_address(const boost::asio::ip::address& peer, std::string_view x_forwarded_for,
                                          std::string_view forwarded) const;

 private:
  std::vector<Network> nets_;
};

}  // namespace tirai::relay
