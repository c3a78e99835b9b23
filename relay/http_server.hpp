#pragma once
// The HTTP/1.1 server both the admin API and the SMS gateway listener use:
// requests in order on keep-alive connections, plain or TLS, bounded bodies,
// and one reply type. Included only by the listeners' .cpp files (Beast is
// heavy to compile).
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "proto/wipe.hpp"
#include "relay/accept_pause.hpp"
#include "relay/use_tuple.hpp"

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace tirai::relay::httpd {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

struct Reply {
  unsigned status = 200;
  json::value body;
  std::string raw;  // used instead of `body` when set (metrics text)
  std::string content_type = "application/json";
};

inline Reply json_reply(unsigned status, json::value body) {
  Reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

inline Reply error_reply(unsigned status, std::string_view code, std::string_view message) {
  return Reply{status, json::object{{"error", code}, {"message", message}}, {}, "application/json"};
}

// Waits, inside a coroutine, for a callback-style call. The callback is
// posted so that it never resumes the coroutine from inside its initiation.
template <typename T, typename Start>
asio::awaitable<T> await_callback(Start start) {
  auto ex = co_await asio::this_coro::executor;
  // Named, not a temporary inside the co_await: GCC 12 destroys such
  // temporaries twice (PR 99576).
  auto initiation = [start = std::move(start), ex](auto handler) mutable {
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    start([h, ex](T value) mutable {
      asio::post(ex, [h, value = std::move(value)]() mutable { std::move(*h)(std::move(value)); });
    });
  };
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(T)>(std::move(initiation),
                                                                                  asio::use_awaitable);
}

// Overwrites a request's target, Authorization field and body in place (the
// fields' storage is Beast's and is freed unwiped otherwise).
inline void wipe_request(Request& req) {
  const auto overwrite = [](std::string_view v) { proto::wipe(const_cast<char*>(v.data()), v.size()); };
  overwrite(req.target());
  overwrite(req[http::field::authorization]);
  proto::wipe(req.body());
}

// A connection's request handler.
using Handler = std::function<asio::awaitable<Reply>(const Request&)>;

// The routes a listener serves, as templates such as "/v1/sessions/{id}/end"
// where a "{…}" segment stands for any one segment. Static strings.
using Routes = std::span<const std::string_view>;

// What the log says of a request's path: the route template it matches, or
// "(other path)". Never the path as sent: a caller may have typed a number
// (or anything else) into it.
inline std::string_view route_for_log(std::string_view path, Routes routes) {
  for (const auto route : routes) {
    std::string_view p = path, r = route;
    bool same = true;
    while (same && !p.empty() && !r.empty()) {
      const auto pe = p.find('/', 1), re = r.find('/', 1);
      const auto ps = p.substr(0, pe), rs = r.substr(0, re);
      same = ps == rs || (rs.starts_with("/{") && rs.ends_with('}') && ps.size() > 1);
      p = pe == std::string_view::npos ? std::string_view{} : p.substr(pe);
      r = re == std::string_view::npos ? std::string_view{} : r.substr(re);
    }
    if (same && p.empty() && r.empty()) return route;
  }
  return "(other path)";
}

// One connection, plain or TLS: requests in order, keep-alive. `tag` names
// the listener in log lines, which carry the method, the matching route of
// `routes` and the status: nothing the caller wrote.
template <typename Stream>
asio::awaitable<void> serve(std::shared_ptr<Stream> owned, Handler handler, std::string tag, Routes routes) {
  constexpr bool is_tls = !std::is_same_v<Stream, beast::tcp_stream>;
  auto& stream = *owned;
  auto& lowest = beast::get_lowest_layer(stream);
  beast::flat_buffer buffer;
  if constexpr (is_tls) {
    lowest.expires_after(std::chrono::seconds(10));
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_tuple);
    if (ec) co_return;
  }
  for (;;) {
    lowest.expires_after(std::chrono::seconds(30));
    http::request_parser<http::string_body> parser;
    parser.body_limit(64 * 1024);
    parser.header_limit(16 * 1024);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (ec) {
      if (ec == http::error::body_limit || ec == http::error::header_limit) {
        Response res{http::status::payload_too_large, 11};
        res.set(http::field::content_type, "application/json");
        res.body() = R"({"error":"too_large","message":"the request is over the size limit"})";
        res.keep_alive(false);
        res.prepare_payload();
        co_await http::async_write(stream, res, use_tuple);
      }
      break;
    }
    auto req = parser.release();
    const auto route = route_for_log(req.target().substr(0, req.target().find('?')), routes);
    Reply reply;
    try {
      reply = co_await handler(req);
    } catch (const std::exception& e) {
      spdlog::error("[{}] {} failed: {}", tag, route, e.what());
      reply = error_reply(500, "internal", "internal error");
    }
    // A method Beast does not know is "<unknown>", not the caller's text.
    spdlog::debug("[{}] {} {} -> {}", tag, std::string(http::to_string(req.method())), route, reply.status);
    Response res{static_cast<http::status>(reply.status), req.version()};
    res.set(http::field::server, "tirai");
    res.set(http::field::cache_control, "no-store");
    if (reply.status != 204) {
      res.set(http::field::content_type, reply.content_type);
      res.body() = reply.raw.empty() ? json::serialize(reply.body) : std::move(reply.raw);
    }
    const bool keep_alive = req.keep_alive();
    res.keep_alive(keep_alive);
    res.prepare_payload();
    // What the request carried (numbers and secrets in its body, the SMS
    // listener's query, the bearer token) is overwritten before its memory
    // is freed or reused; and so are the raw bytes it was parsed from.
    wipe_request(req);
    if (buffer.size() == 0) {
      const auto raw = buffer.prepare(buffer.capacity());
      proto::wipe(raw.data(), raw.size());
    }
    auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
    if (wec || !keep_alive) break;
  }
  if constexpr (is_tls) {
    lowest.expires_after(std::chrono::seconds(5));
    co_await stream.async_shutdown(use_tuple);
  }
  beast::error_code ignored;
  lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

// Accepts connections until the acceptor is closed; `make_handler` gives
// each connection its handler.
inline asio::awaitable<void> run_listener(tcp::acceptor& acceptor, asio::ssl::context* tls,
                                          std::function<Handler()> make_handler, std::string tag, Routes routes) {
  AcceptPause pause(acceptor.get_executor(), tag);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      co_await pause.failed(ec);
      continue;
    }
    pause.accepted();
    auto handler = make_handler();
    if (tls) {
      auto s = std::make_shared<beast::ssl_stream<beast::tcp_stream>>(std::move(socket), *tls);
      asio::co_spawn(acceptor.get_executor(), serve(s, std::move(handler), tag, routes), asio::detached);
    } else {
      auto s = std::make_shared<beast::tcp_stream>(std::move(socket));
      asio::co_spawn(acceptor.get_executor(), serve(s, std::move(handler), tag, routes), asio::detached);
    }
  }
}

}  // namespace tirai::relay::httpd
