#pragma once
#include "proto/wipe.hpp"
#include "relay/config/config.hpp"
#include "relay/core/metrics.hpp"
#include "relay/core/runner.hpp"
#include "relay/relay.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

namespace tirai::relay {

// The server side of TLS: TLS 1.2+ with forward-secret AEAD ciphers only.
// Throws ConfigError naming tls.cert or tls.key when they cannot be loaded.
boost::asio::ssl::context make_tls_context(const Config::Tls& tls);

// Accepts WebSocket connections on `acceptor` until it is closed; each gets
// its own coroutine (reader) and writer. With `tls`, each connection first
// completes a TLS handshake. Connections over relay.max_connections are
// refused at once.
boost::asio::awaitable<void> run_ws_listener(boost::asio::ip::tcp::acceptor& acceptor, Relay& relay,
                                             const Config& config, boost::asio::ssl::context* tls);

struct AdminContext {
  Relay& relay;
  StoreRunner& store;
  Metrics& metrics;
  std::string token;  // the bearer token every call but /v1/health must carry; wiped with the context
  boost::asio::ssl::context* tls = nullptr;
  ~AdminContext() { proto::wipe(token); }
};

// Serves the admin HTTP API (design §6) on `acceptor` until it is closed.
boost::asio::awaitable<void> run_admin_listener(boost::asio::ip::tcp::acceptor& acceptor, AdminContext& context);

}  // namespace tirai::relay
