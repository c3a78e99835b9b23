#include "relay/calls/coturn_cli.hpp"

#include "proto/wipe.hpp"
#include "relay/core/neighbour.hpp"
#include "relay/use_tuple.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <spdlog/spdlog.h>

#include <deque>

namespace tirai::relay {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

// A listing of thousands of sessions stays far below this.
constexpr std::size_t max_reply_bytes = 8 * 1024 * 1024;

bool base32_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'); }

}  // namespace

bool tirai_turn_username(std::string_view u) {
  const auto colon = u.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 20) return false;
  const auto expiry = u.substr(0, colon), opaque = u.substr(colon + 1);
  return std::all_of(expiry.begin(), expiry.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
         opaque.size() == 26 && std::all_of(opaque.begin(), opaque.end(), base32_char);
}

std::vector<CoturnSession> parse_coturn_sessions(std::string_view listing) {
  std::vector<CoturnSession> out;
  constexpr std::string_view id_mark = "id=", user_mark = ", user <";
  for (std::size_t at = listing.find(id_mark); at != std::string_view::npos; at = listing.find(id_mark, at)) {
    at += id_mark.size();
    const auto id_end = listing.find_first_not_of("0123456789", at);
    if (id_end == std::string_view::npos || id_end == at) continue;
    if (listing.substr(id_end, user_mark.size()) != user_mark) continue;
    const auto user_at = id_end + user_mark.size();
    const auto user_end = listing.find(">:", user_at);
    if (user_end == std::string_view::npos) break;
    out.push_back({std::string(listing.substr(at, id_end - at)), std::string(listing.substr(user_at, user_end - user_at))});
    at = user_end;
  }
  return out;
}

struct CoturnCli::Impl : std::enable_shared_from_this<Impl> {
  enum class Kind { check, cancel, cancel_all };
  struct Request {
    Kind kind{};
    std::vector<std::string> usernames;
    std::function<void(std::optional<int>)> done;  // check: 0 when it answered
    std::function<bool(const std::string&)> spare;  // cancel_all: the allocations it leaves
  };

  Impl(asio::any_io_executor ex, Address a, std::string pw, Millis t, Metrics& m)
      : executor(ex),
        at(std::move(a)),
        password(std::move(pw)),
        timeout(t),
        coturn(m, "coturn", "calls", "coturn's CLI (calls.turn_admin)",
               "calls fail, and allocations of ended calls are cancelled once it answers"),
        owed(ex) {}
  ~Impl() { proto::wipe(password); }

  asio::any_io_executor executor;
  Address at;
  std::string password;
  Millis timeout;
  std::deque<Request> queue;
  bool running = false;
  bool stopping = false;
  NeighbourState coturn;
  std::optional<beast::tcp_stream> stream;
  // Cancels coturn did not answer, tried again after a backoff: an ended
  // call's allocations must go, or its media could flow on.
  OwedRequests<Request> owed;

  // Reads until the reply ends with the prompt "> " (true), or with the
  // password prompt again (false: refused); nullopt on a failure.
  asio::awaitable<std::optional<bool>> read_reply(std::string& reply, std::string& error) {
    reply.clear();
    char buf[4096];
    while (true) {
      stream->expires_after(timeout);
      auto [ec, n] = co_await stream->async_read_some(asio::buffer(buf), use_tuple);
      if (ec) {
        error = ec == beast::error::timeout ? "timed out" : ec.message();
        co_return std::nullopt;
      }
      reply.append(buf, n);
      if (reply.size() > max_reply_bytes) {
        error = "answered too much";
        co_return std::nullopt;
      }
      std::string_view r = reply;
      while (r.ends_with("\r\n")) r.remove_suffix(2);
      if (r.ends_with("Enter password:") || r.ends_with("Enter password: ")) co_return false;
      if (reply.ends_with("> ")) co_return true;
    }
  }

  asio::awaitable<bool> command(std::string_view line, std::string& reply, std::string& error) {
    std::string text(line);
    text += "\r\n";
    stream->expires_after(timeout);
    auto [ec, n] = co_await asio::async_write(*stream, asio::buffer(text), use_tuple);
    if (ec) {
      error = ec.message();
      co_return false;
    }
    auto r = co_await read_reply(reply, error);
    if (r && !*r) error = "asked for the password again";
    co_return r && *r;
  }

  // One request on a fresh connection: log in, then its commands.
  asio::awaitable<std::optional<int>> serve(const Request& req, std::string& error) {
    tcp::resolver resolver(executor);
    auto [rec, endpoints] = co_await resolver.async_resolve(at.host, std::to_string(at.port), use_tuple);
    if (rec) {
      error = "cannot resolve its address";
      co_return std::nullopt;
    }
    stream.emplace(executor);
    stream->expires_after(timeout);
    auto [cec, ep] = co_await stream->async_connect(endpoints, use_tuple);
    if (cec) {
      error = "cannot connect: " + cec.message();
      co_return std::nullopt;
    }
    std::string reply;
    auto banner = co_await read_reply(reply, error);
    if (!banner) co_return std::nullopt;
    if (*banner) {
      error = "did not ask for a password (set cli-password in turnserver.conf)";
      co_return std::nullopt;
    }
    std::string login = password + "\r\n";
    stream->expires_after(timeout);
    auto [wec, wn] = co_await asio::async_write(*stream, asio::buffer(login), use_tuple);
    proto::wipe(login);
    if (wec) {
      error = wec.message();
      co_return std::nullopt;
    }
    auto in = co_await read_reply(reply, error);
    if (!in) co_return std::nullopt;
    if (!*in) {
      error = "refused the password (calls.turn_admin_password_file must hold its cli-password)";
      co_return std::nullopt;
    }
    int cancelled = 0;
    if (req.kind == Kind::check) co_return 0;
    std::vector<CoturnSession> sessions;
    if (req.kind == Kind::cancel_all) {
      if (!co_await command("ps", reply, error)) co_return std::nullopt;
      for (auto& s : parse_coturn_sessions(reply))
        if (tirai_turn_username(s.username) && !req.spare(s.username)) sessions.push_back(std::move(s));
    } else {
      for (const auto& u : req.usernames) {
        if (!co_await command("ps " + u, reply, error)) co_return std::nullopt;
        for (auto& s : parse_coturn_sessions(reply))
          if (s.username == u) sessions.push_back(std::move(s));
      }
    }
    for (const auto& s : sessions) {
      if (!co_await command("cs " + s.id, reply, error)) co_return std::nullopt;
      ++cancelled;
    }
    co_return cancelled;
  }

  // Runs the queue; `self` keeps this alive until it is done.
  static asio::awaitable<void> run(std::shared_ptr<Impl> self) { co_await self->run_queue(); }

  // Answers each request whatever its callback does: one that throws is
  // logged, and the queue goes on.
  static void answer(Request& req, std::optional<int> result) {
    try {
      req.done(result);
    } catch (const std::exception& e) {
      spdlog::error("[calls] handling coturn's answer failed: {}", e.what());
    }
  }

  asio::awaitable<void> run_queue() {
    while (!queue.empty() && !stopping) {
      Request req = std::move(queue.front());
      queue.pop_front();
      std::string error;
      auto result = co_await serve(req, error);
      if (stream) {
        beast::error_code ignored;
        stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream->close();
        stream.reset();
      }
      if (result) {
        coturn.answered();
        owed.answered();
      } else if (req.kind != Kind::check && !stopping) {
        const auto wait = owed.keep(std::move(req), [self = shared_from_this()](std::deque<Request> again) {
          for (auto& r : again) self->submit(std::move(r));
        });
        coturn.failed(error, wait ? format_duration(*wait) : "");
        continue;
      } else {
        coturn.failed(error);
      }
      answer(req, result);
    }
    running = false;
    while (!queue.empty()) {  // stopped: what was not run fails
      auto req = std::move(queue.front());
      queue.pop_front();
      answer(req, std::nullopt);
    }
  }

  void submit(Request req) {
    if (stopping) return answer(req, std::nullopt);
    queue.push_back(std::move(req));
    if (running) return;
    running = true;
    asio::co_spawn(executor, run(shared_from_this()), asio::detached);
  }
};

CoturnCli::CoturnCli(asio::any_io_executor executor, Address at, std::string password, Millis timeout,
                     Metrics& metrics)
    : impl_(std::make_shared<Impl>(executor, std::move(at), std::move(password), timeout, metrics)) {}

CoturnCli::~CoturnCli() { stop(); }

void CoturnCli::stop() {
  impl_->stopping = true;
  impl_->owed.stop();
  if (impl_->stream) {
    beast::error_code ignored;
    impl_->stream->socket().close(ignored);
  }
}

bool CoturnCli::idle() const { return !impl_->running && impl_->queue.empty() && impl_->owed.empty(); }

void CoturnCli::check(std::function<void(bool ok)> done) {
  impl_->submit({Impl::Kind::check, {}, [done = std::move(done)](std::optional<int> r) { done(r.has_value()); }, {}});
}

void CoturnCli::cancel(std::vector<std::string> usernames, std::function<void(std::optional<int>)> done) {
  impl_->submit({Impl::Kind::cancel, std::move(usernames), std::move(done), {}});
}

void CoturnCli::cancel_all(std::function<bool(const std::string&)> spare,
                           std::function<void(std::optional<int>)> done) {
  impl_->submit({Impl::Kind::cancel_all, {}, std::move(done), std::move(spare)});
}

}  // namespace tirai::relay
