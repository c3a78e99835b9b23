#pragma once
#include "relay/config/config.hpp"
#include "relay/relay.hpp"
#include "relay/web/site.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

namespace tirai::relay {

// Serves the relay's port on `acceptor` until it is closed: the HTTP front
// with the WebSocket upgrade on /v1/ws as its row (design §5); each upgraded
// connection is a peer of `relay` with its own reader and writer. With `tls`,
// each connection first completes a TLS handshake. Connections over
// relay.max_connections, or over relay.max_unauthenticated_per_address from
// one address, are refused at once. The port also serves `site` (the
// talent console and the client page); an upgrade whose Origin is not
// `origin` (the page's own, from relay.public_url) is refused with 403, so
// that a page of another site cannot drive a logged-in talent's browser.
boost::asio::awaitable<void> run_relay_listener(boost::asio::ip::tcp::acceptor& acceptor, Relay& relay,
                                                const Config& config, boost::asio::ssl::context* tls,
                                                std::shared_ptr<const web::Site> site, std::string origin);

}  // namespace tirai::relay
