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
#include <boost/beast/websocket/rfc6455.hpp>
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

namespace detail {

// The routes whose template matches `path`: the one for `method` (if any),
// and whether any route has that path at all.
struct Match {
  const Route* route = nullptr;
  bool path_known = false;
  bool path_open = false;  // a route of that path is Access::open
  PathParams params;
};

inline Match find_route(const Listener& l, http::verb method, std::string_view path) {
  Match m;
  PathParams params;
  for (const auto& r : l.routes) {
    if (!match_path(r.path, path, params)) continue;
    m.path_known = true;
    m.path_open = m.path_open || r.access == Access::open;
    if (r.method == method) {
      m.route = &r;
      m.params = params;
      return m;
    }
  }
  return m;
}

inline bool has_token(const Listener& l, const Request& req) {
  if (!l.token) return false;
  const auto h = req[http::field::authorization];
  constexpr std::string_view prefix = "Bearer ";
  return h.starts_with(prefix) && l.token(h.substr(prefix.size()));
}

// The answer to a request whose whole body was read: access, query, the
// route's handler. The order keeps callers without the token from learning
// which paths exist, and a query from being ignored.
inline asio::awaitable<Reply> answer(const Listener& l, const Match& m, const Request& req, std::string_view path,
                                     std::string_view query, bool has_query) {
  const bool open = !l.token || (m.route ? m.route->access == Access::open : m.path_open);
  if (!open && !has_token(l, req)) co_return error_reply(401, "unauthorized", "a valid bearer token is required");
  if (!m.path_known) co_return error_reply(404, "not_found", "no such endpoint");
  if (!m.route) co_return error_reply(405, "method_not_allowed", "method not allowed here");
  if (has_query && !m.route->query) co_return error_reply(400, "bad_request", "this endpoint takes no query string");
  if (m.route->upgrade) co_return error_reply(426, "upgrade_required", "this endpoint is WebSocket only");
  Call call{req, path, query, m.params};
  co_return co_await m.route->handler(call);
}

// `reply` is the caller's named local: GCC 12 destroys a temporary argument
// of a co_await'ed coroutine twice (PR 99576).
template <typename Stream>
asio::awaitable<void> write_reply(Stream& stream, Reply& reply, unsigned version, bool keep_alive,
                                  const Listener* listener = nullptr) {
  Response res{static_cast<http::status>(reply.status), version};
  res.set(http::field::server, "tirai");
  res.set(http::field::cache_control, "no-store");
  if (listener)
    for (const auto& [name, value] : listener->headers) res.set(name, value);
  for (const auto& [name, value] : reply.headers) res.set(name, value);
  const bool has_body = reply.status != 204 && reply.status != 304 && reply.status / 100 != 3;
  if (has_body && !reply.content_type.empty()) {
    res.set(http::field::content_type, reply.content_type);
    res.body() = reply.raw.empty() ? json::serialize(reply.body) : std::move(reply.raw);
  } else if (has_body) {
    res.body() = std::move(reply.raw);
  }
  res.keep_alive(keep_alive);
  if (reply.head && has_body) {
    // The length the GET would have sent, and nothing after the fields.
    res.content_length(res.body().size());
    res.body().clear();
  } else {
    res.prepare_payload();
  }
  co_await http::async_write(stream, res, use_tuple);
}

}  // namespace detail

// One connection, plain or TLS: requests in order (keep-alive when the
// listener allows), each read head first so that its route decides its body
// limit or takes the connection over. Log lines carry the method, the
// matching route and the status: nothing the caller wrote.
template <typename Stream>
asio::awaitable<void> serve(Stream stream, std::shared_ptr<const Listener> listener, AdmissionPtr admission) {
  constexpr bool is_tls = std::is_same_v<Stream, TlsStream>;
  const Listener& l = *listener;
  auto& lowest = beast::get_lowest_layer(stream);
  lowest.expires_after(l.header_timeout);
  if constexpr (is_tls) {
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_tuple);
    if (ec) {
      spdlog::debug("[{}] TLS handshake failed: {}", l.tag, ec.message());
      co_return;
    }
  }
  beast::flat_buffer buffer;
  for (bool first = true;; first = false) {
    if (!first) lowest.expires_after(l.header_timeout);
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(l.header_limit));
    // No body limit while the head is read: Beast would otherwise end the
    // read at a Content-Length over its default (1 MiB) without a word; the
    // route's limit is applied below, with a 413.
    parser.body_limit(boost::none);
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
    const auto too_large = [&]() -> asio::awaitable<void> {
      auto reply = error_reply(413, "too_large", "the request is over the size limit");
      reply.head = parser.is_header_done() && parser.get().method() == http::verb::head;
      co_await detail::write_reply(stream, reply, 11, false);
    };
    if (ec) {
      if (ec == http::error::header_limit) co_await too_large();
      break;
    }
    const std::string_view target = parser.get().target();
    const auto q = target.find('?');
    // Copies: the parser's storage moves when the request is released.
    std::string path(target.substr(0, q));
    const bool has_query = q != std::string_view::npos;
    auto m = detail::find_route(l, parser.get().method(), path);
    const bool page = !m.path_known && l.pages &&
                      (parser.get().method() == http::verb::get || parser.get().method() == http::verb::head);
    if (m.route && m.route->upgrade && !has_query && beast::websocket::is_upgrade(parser.get())) {
      // A client sends nothing more before the server's answer (RFC 6455
      // §4.1); bytes that came early would be lost, so they are refused.
      if (auto refused = m.route->refuse ? m.route->refuse(parser.get()) : std::nullopt) {
        spdlog::debug("[{}] GET {} -> {}", l.tag, m.route->path, refused->status);
        co_await detail::write_reply(stream, *refused, parser.get().version(), false, &l);
        break;
      }
      if (buffer.size() == 0) {
        lowest.expires_never();
        m.route->upgrade->take(std::move(stream), parser.release(), std::move(admission));
        co_return;
      }
      auto early = error_reply(400, "bad_request", "data sent before the upgrade's answer");
      co_await detail::write_reply(stream, early, parser.get().version(), false);
      break;
    }
    // Beast checks a Content-Length against the limit only as the head is
    // parsed, before the route was known: checked here; a chunked body is
    // checked by Beast chunk by chunk.
    const std::size_t limit = m.route ? m.route->body_limit : 0;
    parser.body_limit(limit);
    if (const auto length = parser.content_length(); length && *length > limit) {
      co_await too_large();
      break;
    }
    lowest.expires_after(l.body_timeout);
    auto [bec, bn] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (bec) {
      if (bec == http::error::body_limit) co_await too_large();
      break;
    }
    auto req = parser.release();
    std::string query(has_query ? std::string_view(req.target()).substr(q + 1) : std::string_view{});
    Reply reply;
    try {
      std::optional<Reply> found;
      if (page) found = l.pages(req, path);
      if (found) reply = std::move(*found);
      else reply = co_await detail::answer(l, m, req, path, query, has_query);
    } catch (const std::exception& e) {
      spdlog::error("[{}] {} failed: {}", l.tag, route_for_log(l, path), e.what());
      reply = error_reply(500, "internal", "internal error");
    }
    // A method Beast does not know is "<unknown>", not the caller's text.
    spdlog::debug("[{}] {} {} -> {}", l.tag, std::string(http::to_string(req.method())),
                  page && reply.status != 404 && reply.status != 401 ? std::string_view("(page)") : route_for_log(l, path),
                  reply.status);
    // Any answer to a HEAD (a 404 or a 401 too) is its fields alone: a body
    // after them would be read as the next answer on a kept-alive
    // connection (found by tests/fuzz/admin_api.cpp).
    if (req.method() == http::verb::head) reply.head = true;
    const bool keep_alive = l.keep_alive && req.keep_alive();
    const auto version = req.version();
    // What the request carried (numbers and secrets in its body, the SMS
    // listener's query, the bearer token) is overwritten before its memory
    // is freed or reused; and so are the raw bytes it was parsed from, and
    // the copies of its path and query.
    wipe_request(req);
    proto::wipe(query);
    proto::wipe(path);
    if (buffer.size() == 0) {
      const auto raw = buffer.prepare(buffer.capacity());
      proto::wipe(raw.data(), raw.size());
    }
    lowest.expires_after(l.body_timeout);
    co_await detail::write_reply(stream, reply, version, keep_alive, &l);
    if (!keep_alive) break;
  }
  if constexpr (is_tls) {
    lowest.expires_after(std::chrono::seconds(5));
    co_await stream.async_shutdown(use_tuple);
  }
  beast::error_code ignored;
  lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

// Accepts connections until the acceptor is closed; each is admitted (or
// refused) by the listener's hook, then served by its own coroutine.
inline asio::awaitable<void> run_listener(tcp::acceptor& acceptor, std::shared_ptr<const Listener> listener) {
  const auto* ex = acceptor.get_executor().target<Executor>();
  if (!ex) throw std::logic_error("a listener runs on an io_context");
  AcceptPause pause(acceptor.get_executor(), listener->tag);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(*ex, use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      co_await pause.failed(ec);
      continue;
    }
    pause.accepted();
    AdmissionPtr admission;
    if (listener->admit) {
      auto admitted = listener->admit(socket);
      if (!admitted) continue;  // the socket closes as it goes out of scope
      admission = std::move(*admitted);
    }
    if (listener->tls)
      asio::co_spawn(*ex, serve(TlsStream(std::move(socket), *listener->tls), listener, std::move(admission)),
                     asio::detached);
    else
      asio::co_spawn(*ex, serve(PlainStream(std::move(socket)), listener, std::move(admission)), asio::detached);
  }
}

}  // namespace tirai::relay::httpd
