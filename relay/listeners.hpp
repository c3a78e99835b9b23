#pragma once
#include "relay/config.hpp"
#include "relay/metrics.hpp"
#include "relay/runner.hpp"
#include "relay/session_manager.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace tirai::relay {

// Accepts WebSocket connections on `acceptor` until it is closed; each gets
// its own coroutine (reader) and writer. Connections over
// relay.max_connections are refused at once.
boost::asio::awaitable<void> run_ws_listener(boost::asio::ip::tcp::acceptor& acceptor, SessionManager& manager,
                                             const Config& config);

struct AdminContext {
  SessionManager& manager;
  StoreRunner& store;
  Metrics& metrics;
  std::string token;  // the bearer token every call but /v1/health must carry
};

// Serves the admin HTTP API (design §6) on `acceptor` until it is closed.
boost::asio::awaitable<void> run_admin_listener(boost::asio::ip::tcp::acceptor& acceptor, AdminContext& context);

}  // namespace tirai::relay
