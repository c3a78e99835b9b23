#pragma once
#include "relay/phone/phone.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace tirai::relay {

// Serves Kamailio's questions about calls (design §13) on `acceptor` until
// it is closed: GET /v1/phone/inbound, /outbound and /event with the seam's
// bearer secret. Plain HTTP, for loopback. Answers are one line of text
// (Kamailio splits it with {s.select}); every refusal is the same 404.
// The config gives the listener's deadlines (phone.header_timeout and
// phone.body_timeout).
boost::asio::awaitable<void> run_phone_listener(boost::asio::ip::tcp::acceptor& acceptor, Phone& phone,
                                                std::string secret, const Config::Phone& config);

}  // namespace tirai::relay
