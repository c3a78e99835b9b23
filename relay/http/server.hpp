#pragma once
// The HTTP front every listener of tiraid runs (the relay's port, the admin
// API, the SMS gateway's inbound calls): one accept loop and one connection
// loop, plain or TLS, driven by a table of routes
// {method, path, handler, body limit, access}. A route may instead take the
// connection over (the WebSocket upgrade on /v1/ws), as in Beast's advanced
// server: the request's head is read here, then the stream moves on.
// Included only by the listeners' .cpp files (Beast is heavy to compile).
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "proto/wipe.hpp"
#include "relay/http/accept_pause.hpp"
#include "relay/http/route_match.hpp"
#include "relay/use_tuple.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tirai::relay::httpd {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

// Concrete executor types all the way down: with any_io_executor every
// completion copied and destroyed a type-erased executor.
using Executor = asio::io_context::executor_type;
using Socket = tcp::socket::rebind_executor<Executor>::other;
using PlainStream = beast::basic_stream<tcp, Executor>;
using TlsStream = beast::ssl_stream<PlainStream>;

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

struct Reply {
  unsigned status = 200;
  json::value body;
  std::string raw;  // used instead of `body` when set (metrics text)
  std::string content_type = "application/json";  // none when empty
  // Further header fields; a Cache-Control among them replaces "no-store".
  std::vector<std::pair<std::string, std::string>> headers;
  bool head = false;  // HEAD: the fields and Content-Length of the body, not the body
};

inline Reply json_reply(unsigned status, json::value body) {
  Reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

inline Reply error_reply(unsigned status, std::string_view code, std::string_view message) {
  return json_reply(status, json::object{{"error", code}, {"message", message}});
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

// What a route's handler is given.
struct Call {
  const Request& request;
  std::string_view path;   // the target before any '?'
  std::string_view query;  // after it (empty when none)
  PathParams params;       // the path's "{…}" segments
};
using Handler = std::function<asio::awaitable<Reply>(const Call&)>;

// What a listener's admission hook gives a connection it accepts: it counts
// the connection for as long as the connection lives, whatever it becomes.
class Admission {
 public:
  virtual ~Admission() = default;
  // The connection proved who it is (a WebSocket hello): it stops counting
  // as an anonymous one.
  virtual void authenticated() {}
};
using AdmissionPtr = std::unique_ptr<Admission>;

// Takes a connection over once its request asked for an upgrade: the stream
// (its TLS done), the request's head, and the admission that counts it.
class Upgrade {
 public:
  virtual ~Upgrade() = default;
  virtual void take(PlainStream stream, Request head, AdmissionPtr admission) = 0;
  virtual void take(TlsStream stream, Request head, AdmissionPtr admission) = 0;
};

// Who may call a route: anyone, or only with the listener's bearer token.
enum class Access { open, token };

// A row of a listener's table: Route(verb::post, "/v1/talents", handler)
// .body_up_to(16 * 1024), or Route("/v1/ws", upgrade).open().
struct Route {
  Route(http::verb method, std::string_view path, Handler handler)
      : method(method), path(path), handler(std::move(handler)) {}
  Route(std::string_view path, std::shared_ptr<Upgrade> upgrade)
      : method(http::verb::get), path(path), upgrade(std::move(upgrade)) {}

  Route&& body_up_to(std::size_t bytes) && {
    body_limit = bytes;
    return std::move(*this);
  }
  Route&& open() && {
    access = Access::open;
    return std::move(*this);
  }
  Route&& takes_query() && {
    query = true;
    return std::move(*this);
  }
  // An upgrade row's check of the request before the connection is taken
  // over: a reply refuses it (the relay's Origin check).
  Route&& checked_by(std::function<std::optional<Reply>(const Request&)> check) && {
    refuse = std::move(check);
    return std::move(*this);
  }

  http::verb method;
  std::string_view path;  // a template: "/v1/sessions/{id}/end"
  Handler handler;        // answers the request; or
  std::shared_ptr<Upgrade> upgrade;  // takes the connection over (GET with "Upgrade: websocket")
  std::size_t body_limit = 0;        // bytes; larger bodies get 413 and the connection closes
  Access access = Access::token;
  bool query = false;  // takes a query string; elsewhere one is refused, not dropped
  std::function<std::optional<Reply>(const Request&)> refuse;  // upgrades only
};

// Everything one listener serves, and how.
struct Listener {
  std::string tag;  // names the listener in log lines: "[admin] GET /v1/talents -> 200"
  std::vector<Route> routes;
  // Checks a bearer token, for Access::token routes and for paths no route
  // has (which then answer 401 rather than tell which paths exist).
  std::function<bool(std::string_view token)> token;
  asio::ssl::context* tls = nullptr;
  // Deadlines against slow clients (slowloris): a request's head (with the
  // TLS handshake, for the first) must have arrived within header_timeout of
  // the connection's accept or of the previous answer, which makes it also
  // how long a kept-alive connection may sit idle; its body within
  // body_timeout of the head; and the answer must be taken within
  // body_timeout. A connection that sends a byte a second is closed at the
  // deadline, whatever it has sent by then.
  std::chrono::steady_clock::duration header_timeout = std::chrono::seconds(30);
  std::chrono::steady_clock::duration body_timeout = std::chrono::seconds(30);
  std::size_t header_limit = 16 * 1024;
  bool keep_alive = true;  // false: one request per connection
  // Called with each accepted socket; nullopt refuses (closes) it. Unset:
  // every connection is admitted.
  std::function<std::optional<AdmissionPtr>(Socket&)> admit;
  // Answers a GET or HEAD of a path no route has (the web apps' files,
  // open to anyone, their query ignored); nullopt: no such page either.
  std::function<std::optional<Reply>(const Request&, std::string_view path)> pages;
  // Sent with every answer of this listener.
  std::vector<std::pair<std::string, std::string>> headers;
};

// What the log says of a request's path: the route template it matches, or
// "(other path)". Never the path as sent: a caller may have typed a number
// (or anything else) into it.
inline std::string_view route_for_log(const Listener& l, std::string_view path) {
  PathParams ignored;
  for (const auto& r : l.routes)
    if (match_path(r.path, path, ignored)) return r.path;
  return "(other path)";
}

// Accepts connections until the acceptor is closed; each is admitted (or
// refused) by the listener's hook, then served by its own coroutine: plain
// or TLS, requests in order (keep-alive when the listener allows), each
// read head first so that its route decides its body limit or takes the
// connection over. Log lines carry the method, the matching route and the
// status: nothing the caller wrote. (In server.cpp, compiled once: the
// connection loop is most of what Beast costs to compile.)
asio::awaitable<void> run_listener(tcp::acceptor& acceptor, std::shared_ptr<const Listener> listener);

}  // namespace tirai::relay::httpd
