#pragma once
#include "relay/config/config.hpp"

#include <boost/asio/ssl/context.hpp>

namespace tirai::relay {

// The server side of TLS for every listener: TLS 1.2+ with forward-secret
// AEAD ciphers only. Throws ConfigError naming tls.cert or tls.key when they
// cannot be loaded.
boost::asio::ssl::context make_tls_context(const Config::Tls& tls);

}  // namespace tirai::relay
