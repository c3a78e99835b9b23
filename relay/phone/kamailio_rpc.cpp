#include "relay/phone/kamailio_rpc.hpp"

#include "relay/phone/phone.hpp"
#include "relay/core/neighbour.hpp"
#include "relay/use_tuple.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "proto/wipe.hpp"

#include <algorithm>
#include <charconv>
#include <deque>

namespace tirai::relay {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {
constexpr std::size_t max_answer_bytes = 64 * 1024;
}

namespace {
// "a:b" with both 32-bit decimal numbers (Kamailio's dialog and transaction ids).
std::optional<std::pair<std::uint64_t, std::uint64_t>> id_pair(std::string_view ref) {
  if (!valid_dialog_ref(ref)) return std::nullopt;
  const auto colon = ref.find(':');
  std::uint64_t a = 0, b = 0;
  const auto ra = std::from_chars(ref.data(), ref.data() + colon, a);
  const auto rb = std::from_chars(ref.data() + colon + 1, ref.data() + ref.size(), b);
  if (ra.ec != std::errc{} || rb.ec != std::errc{} || a > 0xffffffffu || b > 0xffffffffu) return std::nullopt;
  return std::pair{a, b};
}
}  // namespace

std::optional<std::string> end_dialog_request(std::string_view dialog, int id) {
  const auto ids = id_pair(dialog);
  if (!ids) return std::nullopt;
  return json::serialize(json::object{{"jsonrpc", "2.0"},
                                      {"method", "dlg.end_dlg"},
                                      {"params", json::array{ids->first, ids->second}},
                                      {"id", id}});
}

std::optional<std::string> cancel_request(std::string_view transaction, int id) {
  const auto ids = id_pair(transaction);
  if (!ids) return std::nullopt;
  // tm.reply: code, reason, "index:label", the To tag of the answer, extra
  // headers and body, both empty. Kamailio 5.6 reads the optional body
  // uninitialised when it is left out: it is always given.
  return json::serialize(json::object{
      {"jsonrpc", "2.0"},
      {"method", "tm.reply"},
      {"params", json::array{480, "Temporarily Unavailable", fmt::format("{}:{}", ids->first, ids->second), "ended", "", ""}},
      {"id", id}});
}

bool rpc_answer(std::string_view body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  return !ec && v.is_object() && (v.as_object().contains("result") || v.as_object().contains("error"));
}

bool rpc_succeeded(std::string_view body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  return !ec && v.is_object() && v.as_object().contains("result") && !v.as_object().contains("error");
}

bool rpc_dialog_gone(std::string_view body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec || !v.is_object()) return false;
  const auto& o = v.as_object();
  if (o.contains("result") && !o.contains("error")) return true;
  // "Dialog not found": it ended on its own meanwhile.
  const auto* error = o.if_contains("error");
  if (!error || !error->is_object()) return false;
  const auto* code = error->as_object().if_contains("code");
  return code && code->is_int64() && code->as_int64() == 404;
}

std::vector<std::string> tirai_dialogs(std::string_view listing) {
  std::vector<std::string> out;
  boost::system::error_code ec;
  auto v = json::parse(listing, ec);
  if (ec || !v.is_object()) return out;
  const auto* result = v.as_object().if_contains("result");
  if (!result || !result->is_array()) return out;
  for (const auto& d : result->as_array()) {
    if (!d.is_object()) continue;
    const auto& o = d.as_object();
    const auto* entry = o.if_contains("h_entry");
    const auto* id = o.if_contains("h_id");
    const auto* vars = o.if_contains("variables");
    if (!entry || !id || !vars || !entry->is_int64() || !id->is_int64() || !vars->is_array()) continue;
    const bool ours = std::any_of(vars->as_array().begin(), vars->as_array().end(), [](const json::value& var) {
      const auto* t = var.is_object() ? var.as_object().if_contains("tirai") : nullptr;
      return t && t->is_string() && t->as_string() == "1";
    });
    if (ours) out.push_back(fmt::format("{}:{}", entry->as_int64(), id->as_int64()));
  }
  return out;
}

struct KamailioRpc::Impl : std::enable_shared_from_this<Impl> {
  struct Request {
    std::string dialog;  // empty: every dialog of tiraid's
    std::string ringing;  // the INVITE's transaction while the call rings
    std::function<void(std::optional<int>)> done;
    bool tone = false;  // the one-minute tone in `dialog`, not its end
    // Set: a listing of the dialogs, not an end (`done` unused).
    std::function<void(std::optional<std::vector<std::string>>)> listed = {};
    // Every dialog of tiraid's: the ones it leaves.
    std::function<bool(const std::string&)> spare = {};
  };

  Impl(asio::any_io_executor ex, Address a, Millis t, Metrics& m)
      : executor(ex),
        at(std::move(a)),
        timeout(t),
        kamailio(m, "kamailio", "phone", "Kamailio's JSON-RPC (phone.kamailio_rpc)",
                 "hang-ups wait and are retried with backoff until it answers"),
        owed(ex) {}

  asio::any_io_executor executor;
  Address at;
  Millis timeout;
  std::deque<Request> queue;
  bool running = false;
  bool stopping = false;
  int next_id = 1;
  unsigned last_status = 0;
  NeighbourState kamailio;
  std::optional<beast::tcp_stream> stream;
  // Hang-ups Kamailio did not answer, tried again after a backoff: a call
  // whose session ended must not go on.
  OwedRequests<Request> owed;

  // One JSON-RPC request on a fresh connection: the answer's body (whatever
  // its HTTP status: jsonrpcs answers an RPC error with its code as the
  // status), or nullopt with `error` set when Kamailio could not be asked.
  // An answer that is not a JSON-RPC object (a "result" or an "error") is
  // garbage: Kamailio could not be asked either.
  asio::awaitable<std::optional<std::string>> exchange(std::string body, std::string& error) {
    auto answer = co_await request(http::verb::post, "/RPC", std::move(body), error);
    if (answer && !rpc_answer(*answer)) {
      proto::wipe(*answer);
      error = fmt::format("answered HTTP {} with something that is not JSON-RPC", last_status);
      co_return std::nullopt;
    }
    co_return answer;
  }

  // One HTTP request to Kamailio's RPC listener; the answer's status is in last_status.
  asio::awaitable<std::optional<std::string>> request(http::verb verb, std::string target, std::string body,
                                                      std::string& error) {
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
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, at.host);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.set(http::field::user_agent, "tirai");
    req.body() = std::move(body);
    req.prepare_payload();
    stream->expires_after(timeout);
    auto [wec, wn] = co_await http::async_write(*stream, req, use_tuple);
    if (wec) {
      error = wec.message();
      co_return std::nullopt;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_answer_bytes);
    stream->expires_after(timeout);
    auto [rec2, rn] = co_await http::async_read(*stream, buffer, parser, use_tuple);
    close_stream();
    if (rec2) {
      error = http_answer_error(rec2, "phone.rpc_timeout");
      co_return std::nullopt;
    }
    last_status = parser.get().result_int();
    co_return std::move(parser.get().body());
  }

  void close_stream() {
    if (!stream) return;
    beast::error_code ignored;
    stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream->close();
    stream.reset();
  }

  // One dialog ended: 1 when it is gone (ended now, or before), 0 when
  // Kamailio would not; nullopt when it could not be asked. A call that
  // rang is answered 480 on its transaction; when that transaction has its
  // answer already (the call was answered meanwhile), the dialog gets BYEs.
  asio::awaitable<std::optional<int>> end_one(const std::string& dialog, const std::string& ringing,
                                              std::string& error) {
    if (!ringing.empty()) {
      if (auto cancel = cancel_request(ringing, next_id++)) {
        auto answer = co_await exchange(std::move(*cancel), error);
        if (!answer) co_return std::nullopt;
        if (rpc_succeeded(*answer)) co_return 1;
      }
    }
    auto body = end_dialog_request(dialog, next_id++);
    if (!body) co_return 0;
    auto answer = co_await exchange(std::move(*body), error);
    if (!answer) co_return std::nullopt;
    co_return rpc_dialog_gone(*answer) ? 1 : 0;
  }

  // The one-minute tone (docs/kamailio.cfg's GET /tone/<dialog>): 1 when
  // rtpengine plays it, 0 when Kamailio says it cannot; nullopt when it could not be asked.
  asio::awaitable<std::optional<int>> tone(const std::string& dialog, std::string& error) {
    if (!valid_dialog_ref(dialog)) co_return 0;
    std::string target = "/tone/" + dialog;
    auto answer = co_await request(http::verb::get, std::move(target), std::string(), error);
    if (!answer) co_return std::nullopt;
    co_return last_status == 200 ? 1 : 0;
  }

  // Every dialog tiraid let through (dlg.list; the ones marked "tirai"),
  // ended. The listing holds callers' numbers: it is read for ids only.
  asio::awaitable<std::optional<std::vector<std::string>>> list(std::string& error) {
    // Named, not a temporary inside the co_await (GCC 12, PR 99576).
    std::string request = json::serialize(json::object{{"jsonrpc", "2.0"}, {"method", "dlg.list"}, {"id", next_id++}});
    auto listing = co_await exchange(std::move(request), error);
    if (!listing) co_return std::nullopt;
    if (!rpc_succeeded(*listing)) {
      proto::wipe(*listing);
      error = "answered dlg.list with an error";
      co_return std::nullopt;
    }
    auto dialogs = tirai_dialogs(*listing);
    proto::wipe(*listing);
    co_return dialogs;
  }

  asio::awaitable<std::optional<int>> end_all(const std::function<bool(const std::string&)>& spare,
                                              std::string& error) {
    auto dialogs = co_await list(error);
    if (!dialogs) co_return std::nullopt;
    int ended = 0;
    for (const auto& d : *dialogs) {
      if (spare(d)) continue;
      auto n = co_await end_one(d, {}, error);
      if (!n) co_return std::nullopt;
      ended += *n;
    }
    co_return ended;
  }

  // Logged once per change, not per request (NeighbourState).
  void log_reachable(const std::string& error) {
    if (error.empty()) {
      kamailio.answered();
      owed.answered();
    } else {
      kamailio.failed(error);
    }
  }

  // Keeps a hang-up for the next try.
  void owe(Request req) {
    const auto wait = owed.keep(std::move(req), [self = shared_from_this()](std::deque<Request> again) {
      for (auto& r : again) self->submit(std::move(r));
    });
    if (wait) spdlog::debug("[phone] {} hang-ups wait for Kamailio; next try in {}", owed.size(), format_duration(*wait));
  }

  static asio::awaitable<void> run(std::shared_ptr<Impl> self) { co_await self->run_queue(); }

  static void answer(Request& req, std::optional<int> result) {
    try {
      if (req.listed) req.listed(std::nullopt);
      else req.done(result);
    } catch (const std::exception& e) {
      spdlog::error("[phone] handling Kamailio's answer failed: {}", e.what());
    }
  }

  asio::awaitable<void> run_queue() {
    while (!queue.empty() && !stopping) {
      Request req = std::move(queue.front());
      queue.pop_front();
      std::string error;
      std::optional<int> result;
      if (req.listed) {
        auto dialogs = co_await list(error);
        close_stream();
        log_reachable(error);
        try {
          req.listed(std::move(dialogs));
        } catch (const std::exception& e) {
          spdlog::error("[phone] handling Kamailio's answer failed: {}", e.what());
        }
        continue;
      }
      if (req.tone) result = co_await tone(req.dialog, error);
      else if (req.dialog.empty()) result = co_await end_all(req.spare, error);
      else result = co_await end_one(req.dialog, req.ringing, error);
      close_stream();
      log_reachable(error);
      if (!result && !req.tone && !stopping) {
        owe(std::move(req));
        continue;
      }
      answer(req, result);
    }
    running = false;
    while (!queue.empty()) {
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

KamailioRpc::KamailioRpc(asio::any_io_executor executor, Address at, Millis timeout, Metrics& metrics)
    : impl_(std::make_shared<Impl>(executor, std::move(at), timeout, metrics)) {}

KamailioRpc::~KamailioRpc() { stop(); }

void KamailioRpc::stop() {
  impl_->stopping = true;
  impl_->owed.stop();
  if (impl_->stream) {
    beast::error_code ignored;
    impl_->stream->socket().close(ignored);
  }
}

bool KamailioRpc::idle() const { return !impl_->running && impl_->queue.empty() && impl_->owed.empty(); }

void KamailioRpc::hang_up(std::string dialog, std::string ringing, std::function<void(bool)> done) {
  if (dialog.empty()) return done(false);
  impl_->submit({std::move(dialog), std::move(ringing),
                 [done = std::move(done)](std::optional<int> n) { done(n && *n == 1); }});
}

void KamailioRpc::play_tone(std::string dialog, std::function<void(bool)> done) {
  if (dialog.empty()) return done(false);
  Impl::Request req{std::move(dialog), std::string(), [done = std::move(done)](std::optional<int> n) { done(n && *n == 1); }};
  req.tone = true;
  impl_->submit(std::move(req));
}

void KamailioRpc::hang_up_all(std::function<bool(const std::string&)> spare,
                              std::function<void(std::optional<int>)> done) {
  impl_->submit({std::string(), std::string(), std::move(done), false, {}, std::move(spare)});
}

void KamailioRpc::list_dialogs(std::function<void(std::optional<std::vector<std::string>>)> done) {
  impl_->submit({std::string(), std::string(), {}, false, std::move(done)});
}

}  // namespace tirai::relay
