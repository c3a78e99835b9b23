#include "tools/client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <optional>

namespace tirai::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
namespace ssl = asio::ssl;

namespace {

ssl::context client_context(const Tls& tls) {
  ssl::context ctx(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  ctx.set_verify_mode(ssl::verify_peer);
  beast::error_code ec;
  if (tls.ca_file.empty()) ctx.set_default_verify_paths(ec);
  else ctx.load_verify_file(tls.ca_file, ec);
  if (ec) throw ClientError("cannot load the CA file " + tls.ca_file + ": " + ec.message());
  return ctx;
}

// Checks the certificate against `host` (a name, or an address in the SAN)
// and sends SNI for names.
void prepare_tls(ssl::stream<tcp::socket>& s, const std::string& host) {
  s.set_verify_callback(ssl::host_name_verification(host));
  beast::error_code ec;
  asio::ip::make_address(host, ec);
  if (ec) SSL_set_tlsext_host_name(s.native_handle(), host.c_str());
}

void tls_handshake(ssl::stream<tcp::socket>& s) {
  beast::error_code ec;
  s.handshake(ssl::stream_base::client, ec);
  if (ec) throw ClientError("TLS handshake failed: " + ec.message());
}

// Blocking reads and writes give up after `timeout` (SO_RCVTIMEO/SO_SNDTIMEO).
void set_timeouts(tcp::socket& s, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

void connect(asio::io_context& ioc, tcp::socket& s, const std::string& host, std::uint16_t port) {
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (!ec) asio::connect(s, results, ec);
  if (ec) throw ClientError("cannot connect to " + host + ":" + std::to_string(port) + ": " + ec.message());
  s.set_option(tcp::no_delay(true));
}

}  // namespace

AdminClient::AdminClient(std::string host, std::uint16_t port, std::string token, std::chrono::milliseconds timeout,
                         Tls tls)
    : host_(std::move(host)), port_(port), token_(std::move(token)), timeout_(timeout), tls_(std::move(tls)) {}

HttpResponse AdminClient::request(std::string_view method, std::string_view target, std::string_view body) const {
  asio::io_context ioc;
  if (!tls_.enabled) {
    tcp::socket socket(ioc);
    connect(ioc, socket, host_, port_);
    set_timeouts(socket, timeout_);
    return exchange(socket, method, target, body);
  }
  auto ctx = client_context(tls_);
  ssl::stream<tcp::socket> stream(ioc, ctx);
  connect(ioc, stream.next_layer(), host_, port_);
  set_timeouts(stream.next_layer(), timeout_);
  prepare_tls(stream, host_);
  tls_handshake(stream);
  auto res = exchange(stream, method, target, body);
  beast::error_code ignored;
  stream.shutdown(ignored);
  return res;
}

template <typename Stream>
HttpResponse AdminClient::exchange(Stream& socket, std::string_view method, std::string_view target,
                                   std::string_view body) const {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, host_);
  req.set(http::field::user_agent, "tiraictl");
  if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::string(body);
  }
  req.keep_alive(false);
  req.prepare_payload();
  beast::error_code ec;
  http::write(socket, req, ec);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  if (!ec) http::read(socket, buffer, res, ec);
  if (ec) throw ClientError("admin API at " + host_ + ":" + std::to_string(port_) + " did not answer: " + ec.message());
  return HttpResponse{res.result_int(), res.body()};
}

struct WsClient::Impl {
  asio::io_context ioc;
  std::optional<ssl::context> ctx;
  std::optional<websocket::stream<tcp::socket>> plain;
  std::optional<websocket::stream<ssl::stream<tcp::socket>>> secure;
  beast::flat_buffer buffer;
  std::optional<std::uint16_t> close_code;

  // Runs `f` on whichever stream this client uses.
  template <typename F>
  decltype(auto) with(F&& f) {
    return plain ? f(*plain) : f(*secure);
  }
};

WsClient::WsClient(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout,
                   std::string_view target, const Tls& tls, const Headers& headers)
    : impl_(std::make_unique<Impl>()) {
  if (tls.enabled) {
    impl_->ctx.emplace(client_context(tls));
    auto& ws = impl_->secure.emplace(impl_->ioc, *impl_->ctx);
    connect(impl_->ioc, beast::get_lowest_layer(ws), host, port);
    set_timeouts(beast::get_lowest_layer(ws), timeout);
    prepare_tls(ws.next_layer(), host);
    tls_handshake(ws.next_layer());
  } else {
    auto& ws = impl_->plain.emplace(impl_->ioc);
    connect(impl_->ioc, ws.next_layer(), host, port);
    set_timeouts(ws.next_layer(), timeout);
  }
  impl_->with([&](auto& ws) {
    beast::error_code ec;
    if (!headers.empty())
      ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
        for (const auto& [name, value] : headers) req.set(name, value);
      }));
    ws.handshake(host + ":" + std::to_string(port), target, ec);
    if (ec) throw ClientError("WebSocket handshake failed: " + ec.message());
    ws.text(true);
  });
}

WsClient::~WsClient() = default;
WsClient::WsClient(WsClient&&) noexcept = default;
WsClient& WsClient::operator=(WsClient&&) noexcept = default;

void WsClient::send(std::string_view text) {
  impl_->with([&](auto& ws) {
    beast::error_code ec;
    ws.text(true);
    ws.write(asio::buffer(text.data(), text.size()), ec);
    if (ec) throw ClientError("send failed: " + ec.message());
  });
}

void WsClient::send_binary(std::string_view data) {
  impl_->with([&](auto& ws) {
    beast::error_code ec;
    ws.binary(true);
    ws.write(asio::buffer(data.data(), data.size()), ec);
    ws.text(true);
    if (ec) throw ClientError("send failed: " + ec.message());
  });
}

std::string WsClient::receive() {
  return impl_->with([&](auto& ws) {
    beast::error_code ec;
    impl_->buffer.clear();
    ws.read(impl_->buffer, ec);
    // A close frame may arrive and the teardown after it fail (the relay
    // already dropped the socket); the close code is what counts.
    if (ec == websocket::error::closed || (ec && ws.reason().code != 0)) {
      impl_->close_code = ws.reason().code;
      throw ClosedError(*impl_->close_code);
    }
    if (ec) throw ClientError("receive failed: " + ec.message());
    return beast::buffers_to_string(impl_->buffer.data());
  });
}

std::uint16_t WsClient::wait_closed() {
  for (;;) {
    try {
      receive();
    } catch (const ClosedError& e) {
      return e.code;
    }
  }
}

std::optional<std::uint16_t> WsClient::close_code() const { return impl_->close_code; }

void WsClient::close() {
  impl_->with([&](auto& ws) {
    beast::error_code ec;
    ws.close(websocket::close_code::normal, ec);
  });
}

}  // namespace tirai::client
