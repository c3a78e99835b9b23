#pragma once
#include "relay/config/config.hpp"
#include "relay/sms/sms_relay.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace tirai::relay {

// Serves Kannel's inbound SMS calls (GET /v1/sms/kannel, design §9) on
// `acceptor` until it is closed. Plain HTTP.
boost::asio::awaitable<void> run_sms_listener(boost::asio::ip::tcp::acceptor& acceptor, SmsRelay& sms,
                                              const SmsConfig& config);

}  // namespace tirai::relay
