#include "tools/client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <sys/socket.h>

namespace tirai::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

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

AdminClient::AdminClient(std::string host, std::uint16_t port, std::string token, std::chrono::milliseconds timeout)
    : host_(std::move(host)), port_(port), token_(std::move(token)), timeout_(timeout) {}

HttpResponse AdminClient::request(std::string_view method, std::string_view target, std::string_view body) const {
  asio::io_context ioc;
  tcp::socket socket(ioc);
  connect(ioc, socket, host_, port_);
  set_timeouts(socket, timeout_);
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
  websocket::stream<tcp::socket> ws{ioc};
  beast::flat_buffer buffer;
  std::optional<std::uint16_t> close_code;
};

WsClient::WsClient(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout,
                   std::string_view target)
    : impl_(std::make_unique<Impl>()) {
  connect(impl_->ioc, impl_->ws.next_layer(), host, port);
  set_timeouts(impl_->ws.next_layer(), timeout);
  beast::error_code ec;
  impl_->ws.handshake(host + ":" + std::to_string(port), target, ec);
  if (ec) throw ClientError("WebSocket handshake failed: " + ec.message());
  impl_->ws.text(true);
}

WsClient::~WsClient() = default;
WsClient::WsClient(WsClient&&) noexcept = default;
WsClient& WsClient::operator=(WsClient&&) noexcept = default;

void WsClient::send(std::string_view text) {
  beast::error_code ec;
  impl_->ws.text(true);
  impl_->ws.write(asio::buffer(text.data(), text.size()), ec);
  if (ec) throw ClientError("send failed: " + ec.message());
}

void WsClient::send_binary(std::string_view data) {
  beast::error_code ec;
  impl_->ws.binary(true);
  impl_->ws.write(asio::buffer(data.data(), data.size()), ec);
  impl_->ws.text(true);
  if (ec) throw ClientError("send failed: " + ec.message());
}

std::string WsClient::receive() {
  beast::error_code ec;
  impl_->buffer.clear();
  impl_->ws.read(impl_->buffer, ec);
  // A close frame may arrive and the teardown after it fail (the relay
  // already dropped the socket); the close code is what counts.
  if (ec == websocket::error::closed || (ec && impl_->ws.reason().code != 0)) {
    impl_->close_code = impl_->ws.reason().code;
    throw ClosedError(*impl_->close_code);
  }
  if (ec) throw ClientError("receive failed: " + ec.message());
  return beast::buffers_to_string(impl_->buffer.data());
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
  beast::error_code ec;
  impl_->ws.close(websocket::close_code::normal, ec);
}

}  // namespace tirai::client
