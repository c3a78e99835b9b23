#include "relay/http/server.hpp"

#include <boost/beast/websocket/rfc6455.hpp>

namespace tirai::relay::httpd {

namespace {

// The routes whose template matches `path`: the one for `method` (if any),
// and whether any route has that path at all.
struct Match {
  const Route* route = nullptr;
  bool path_known = false;
  bool path_open = false;  // a route of that path is Access::open
  PathParams params;
};

Match find_route(const Listener& l, http::verb method, std::string_view path) {
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

bool has_token(const Listener& l, const Request& req) {
  if (!l.token) return false;
  const auto h = req[http::field::authorization];
  constexpr std::string_view prefix = "Bearer ";
  return h.starts_with(prefix) && l.token(h.substr(prefix.size()));
}

// The answer to a request whose whole body was read: access, query, the
// route's handler. The order keeps callers without the token from learning
// which paths exist, and a query from being ignored.
asio::awaitable<Reply> answer(const Listener& l, const Match& m, const Request& req, std::string_view path,
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
      co_await write_reply(stream, reply, 11, false);
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
    auto m = find_route(l, parser.get().method(), path);
    const bool page = !m.path_known && l.pages &&
                      (parser.get().method() == http::verb::get || parser.get().method() == http::verb::head);
    if (m.route && m.route->upgrade && !has_query && beast::websocket::is_upgrade(parser.get())) {
      // A client sends nothing more before the server's answer (RFC 6455
      // §4.1); bytes that came early would be lost, so they are refused.
      if (auto refused = m.route->refuse ? m.route->refuse(parser.get()) : std::nullopt) {
        spdlog::debug("[{}] GET {} -> {}", l.tag, m.route->path, refused->status);
        co_await write_reply(stream, *refused, parser.get().version(), false, &l);
        break;
      }
      if (buffer.size() == 0) {
        lowest.expires_never();
        m.route->upgrade->take(std::move(stream), parser.release(), std::move(admission));
        co_return;
      }
      auto early = error_reply(400, "bad_request", "data sent before the upgrade's answer");
      co_await write_reply(stream, early, parser.get().version(), false);
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
      else reply = co_await answer(l, m, req, path, query, has_query);
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
    co_await write_reply(stream, reply, version, keep_alive, &l);
    if (!keep_alive) break;
  }
  if constexpr (is_tls) {
    lowest.expires_after(std::chrono::seconds(5));
    co_await stream.async_shutdown(use_tuple);
  }
  beast::error_code ignored;
  lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

}  // namespace

asio::awaitable<void> run_listener(tcp::acceptor& acceptor, std::shared_ptr<const Listener> listener) {
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
