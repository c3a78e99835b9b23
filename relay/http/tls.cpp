#include "relay/http/tls.hpp"

#include <fmt/format.h>
#include <openssl/ssl.h>

namespace tirai::relay {

namespace ssl = boost::asio::ssl;

ssl::context make_tls_context(const Config::Tls& tls) {
  ssl::context ctx(ssl::context::tls_server);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use |
                  ssl::context::no_compression);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  // TLS 1.2: ECDHE with AEAD only; TLS 1.3 suites are all AEAD already.
  SSL_CTX_set_cipher_list(ctx.native_handle(),
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  boost::system::error_code ec;
  ctx.use_certificate_chain_file(tls.cert.string(), ec);
  if (ec) throw ConfigError(fmt::format("tls.cert: cannot load {}: {}", tls.cert.string(), ec.message()));
  ctx.use_private_key_file(tls.key.string(), ssl::context::pem, ec);
  if (ec) throw ConfigError(fmt::format("tls.key: cannot load {}: {}", tls.key.string(), ec.message()));
  return ctx;
}

}  // namespace tirai::relay
