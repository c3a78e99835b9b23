#include "relay/http/client_address.hpp"

#include <algorithm>

namespace tirai::relay {

namespace ip = boost::asio::ip;

namespace {

ip::address unmapped(const ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  return a;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// One node of a forwarding header: "1.2.3.4", "1.2.3.4:80", "2001:db8::1",
// "[2001:db8::1]:80", optionally quoted.
std::optional<ip::address> parse_node(std::string_view s) {
  s = trim(s);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    s = s.substr(1, close - 1);
  } else if (s.find(':') == s.rfind(':') && s.find('.') != std::string_view::npos) {
    s = s.substr(0, s.find(':'));  // IPv4 with a port
  }
  boost::system::error_code ec;
  const auto a = ip::make_address(std::string(s), ec);
  if (ec) return std::nullopt;
  return unmapped(a);
}

// The addresses a header names, leftmost first; nullopt when any cannot be read.
std::optional<std::vector<ip::address>> x_forwarded_for_nodes(std::string_view h) {
  std::vector<ip::address> out;
  while (!h.empty()) {
    const auto comma = h.find(',');
    auto node = parse_node(h.substr(0, comma));
    if (!node) return std::nullopt;
    out.push_back(*node);
    h = comma == std::string_view::npos ? std::string_view{} : h.substr(comma + 1);
  }
  return out;
}

// RFC 7239: elements separated by ',', pairs by ';'; the for= of each.
std::optional<std::vector<ip::address>> forwarded_nodes(std::string_view h) {
  std::vector<ip::address> out;
  while (!h.empty()) {
    const auto comma = h.find(',');
    std::string_view element = h.substr(0, comma);
    h = comma == std::string_view::npos ? std::string_view{} : h.substr(comma + 1);
    bool found = false;
    while (!element.empty()) {
      const auto semi = element.find(';');
      const auto pair = trim(element.substr(0, semi));
      element = semi == std::string_view::npos ? std::string_view{} : element.substr(semi + 1);
      if (pair.size() > 4 && (pair.substr(0, 4) == "for=" || pair.substr(0, 4) == "For=" || pair.substr(0, 4) == "FOR=")) {
        auto node = parse_node(pair.substr(4));
        if (!node) return std::nullopt;  // "unknown" or an obfuscated name
        out.push_back(*node);
        found = true;
      }
    }
    if (!found) return std::nullopt;
  }
  return out;
}

}  // namespace

std::string limit_key(const ip::address& address) {
  const auto a = unmapped(address);
  if (a.is_v4()) return a.to_string();
  auto bytes = a.to_v6().to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return ip::address_v6(bytes).to_string() + "/64";
}

std::optional<TrustedProxies> TrustedProxies::parse(const std::vector<std::string>& entries, std::string& error) {
  auto nets = parse_networks(entries, error);
  if (!nets) return std::nullopt;
  TrustedProxies out;
  out.nets_ = std::move(*nets);
  return out;
}

bool TrustedProxies::contains(const ip::address& a) const {
  return std::any_of(nets_.begin(), nets_.end(), [&a](const Network& n) { return n.contains(a); });
}

ip::address TrustedProxies::client_address(const ip::address& peer, std::string_view x_forwarded_for,
                                           std::string_view forwarded) const {
  const auto self = unmapped(peer);
  if (!contains(self)) return self;
  std::optional<std::vector<ip::address>> nodes;
  if (!trim(x_forwarded_for).empty()) nodes = x_forwarded_for_nodes(x_forwarded_for);
  else if (!trim(forwarded).empty()) nodes = forwarded_nodes(forwarded);
  if (!nodes || nodes->empty()) return self;
  for (auto it = nodes->rbegin(); it != nodes->rend(); ++it)
    if (!contains(*it)) return *it;
  return nodes->front();  // every hop is ours
}

}  // namespace tirai::relay
