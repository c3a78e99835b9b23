#include "relay/listeners.hpp"

#include "crypto/secret.hpp"
#include "proto/json_parse.hpp"
#include "proto/timefmt.hpp"
#include "proto/wipe.hpp"
#include "relay/http_server.hpp"
#include "store/store.hpp"

namespace tirai::relay {

using namespace httpd;

namespace {

using httpd::error_reply;

// The admin API's HTTP status for each expected failure: the one place
// where booking's and ratings' outcomes become HTTP.
unsigned http_status(BookingErrc e) {
  switch (e) {
    case BookingErrc::invalid_alias:
    case BookingErrc::weak_secret:
    case BookingErrc::invalid_number:
    case BookingErrc::sms_disabled: return 400;
    case BookingErrc::unknown_talent:
    case BookingErrc::unknown_package:
    case BookingErrc::unknown_session: return 404;
    case BookingErrc::alias_taken:
    case BookingErrc::client_restricted:
    case BookingErrc::kyc_required:
    case BookingErrc::pool_exhausted: return 409;
    case BookingErrc::internal: return 500;
  }
  return 500;
}
unsigned http_status(StandingErrc e) {
  switch (e) {
    case StandingErrc::invalid_number:
    case StandingErrc::bad_method: return 400;
    case StandingErrc::internal: return 500;
  }
  return 500;
}
template <typename Errc>
Reply error_reply(const Failure<Errc>& e) {
  return error_reply(http_status(e.errc), e.code(), e.message);
}

// Runs a read on the store thread and returns its result.
template <typename T, typename Read>
asio::awaitable<std::optional<T>> store_read(StoreRunner& store, Read read) {
  auto result = std::make_shared<std::optional<T>>();
  const bool ok = co_await await_callback<bool>([&](auto done) {
    store.submit([result, read](store::Store& st) { *result = read(st); },
                 [done](std::exception_ptr e) mutable { done(!e); });
  });
  if (!ok) co_return std::nullopt;
  co_return std::move(*result);
}

json::object session_json(const store::SessionRecord& r) {
  json::object o{{"session", r.id},
                 {"talent", r.talent_alias},
                 {"package", r.package},
                 {"state", proto::to_string(r.state)},
                 {"booked_at", proto::rfc3339(r.booked_at)},
                 {"expires_at", proto::rfc3339(r.expires_at)},
                 {"messages", r.message_count}};
  json::array ch;
  for (const auto& c : r.channels) ch.emplace_back(c);
  o["channels"] = std::move(ch);
  if (!r.client_alias.empty()) o["client_alias"] = r.client_alias;
  if (!r.proxy_number.empty()) o["proxy_number"] = r.proxy_number;
  if (!r.close_reason.empty()) o["close_reason"] = r.close_reason;
  if (r.closing_until) o["closing_until"] = proto::rfc3339(*r.closing_until);
  if (r.closed_at) o["closed_at"] = proto::rfc3339(*r.closed_at);
  return o;
}

// A request's JSON object whose string values (numbers, secrets) are
// overwritten when it goes.
class WipedObject : public json::object {
 public:
  explicit WipedObject(json::object&& o) : json::object(std::move(o)) {}
  WipedObject(WipedObject&&) = default;
  ~WipedObject() {
    for (auto& kv : *this)
      if (kv.value().is_string()) {
        auto& str = kv.value().get_string();
        proto::wipe(str.data(), str.size());
      }
  }
};

// Reads a JSON object body; sets `err` when the body is not one.
std::optional<WipedObject> json_body(const Request& req, std::optional<Reply>& err) {
  json::error_code ec;
  auto v = proto::parse_json(req.body(), ec, {}, {}, true);
  if (ec || !v.is_object()) {
    err = error_reply(400, "bad_request", "the body must be a JSON object");
    return std::nullopt;
  }
  return WipedObject(std::move(v.get_object()));
}

// A string field; its copy wipes itself (it may be a number or a secret).
std::optional<proto::WipedString> string_member(const json::object& o, std::string_view key,
                                                std::optional<Reply>& err) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_string()) {
    err = error_reply(400, "bad_request", fmt::format("field '{}' must be a string", key));
    return std::nullopt;
  }
  return proto::WipedString(v->get_string().data(), v->get_string().size());
}

// Erase, verify and restrict answer the same whether or not the number was a
// client; how long the work took must not tell either (a known client's
// erasure deletes rows and truncates the WAL: three times as long). Their
// answers wait until this long after the request came.
constexpr std::chrono::milliseconds equal_answer_time{250};

asio::awaitable<void> answer_no_sooner_than(std::chrono::steady_clock::time_point at) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_at(at);
  co_await timer.async_wait(use_tuple);
}

class AdminRouter {
 public:
  explicit AdminRouter(AdminContext& ctx) : ctx_(ctx) {}

  asio::awaitable<Reply> handle(const Request& req) {
    const std::string_view target = req.target();
    const auto q = target.find('?');
    const std::string_view path = target.substr(0, q);
    const std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    const auto method = req.method();
    // Only GET /v1/sessions takes a query. Elsewhere one is refused, not
    // dropped: DELETE /v1/talents/bob?x must not remove bob.
    if (q != std::string_view::npos && path != "/v1/sessions")
      co_return error_reply(400, "bad_request", "this endpoint takes no query string");

    if (path == "/v1/health") {
      if (method != http::verb::get) co_return not_allowed();
      co_return json_reply(200, json::object{{"status", "ok"}});
    }
    if (!authorised(req)) co_return error_reply(401, "unauthorized", "a valid bearer token is required");

    if (path == "/metrics") {
      if (method != http::verb::get) co_return not_allowed();
      {
        Reply r;
        r.raw = ctx_.metrics.render();
        r.content_type = "text/plain; version=0.0.4";
        co_return r;
      }
    }
    if (path == "/v1/packages") {
      if (method != http::verb::get) co_return not_allowed();
      json::array out;
      for (const auto& [name, p] : ctx_.relay.bookings().packages()) {
        json::array ch;
        for (const auto& c : p.channels) ch.emplace_back(c);
        json::object o{{"name", name}, {"channels", std::move(ch)}, {"duration", format_duration(p.duration)}};
        o["max_messages"] = p.max_messages ? json::value(*p.max_messages) : json::value(nullptr);
        o["kyc_required"] = p.kyc_required;
        o["idle_timeout"] = p.idle_timeout.count() ? json::value(format_duration(p.idle_timeout)) : json::value(nullptr);
        out.emplace_back(std::move(o));
      }
      co_return json_reply(200, json::object{{"packages", std::move(out)}});
    }
    if (path == "/v1/talents") {
      if (method == http::verb::get) co_return list_talents();
      if (method == http::verb::post) co_return co_await add_talent(req);
      co_return not_allowed();
    }
    if (path.starts_with("/v1/talents/")) {
      if (method != http::verb::delete_) co_return not_allowed();
      const std::string alias(path.substr(12));
      co_return co_await remove_talent(alias);
    }
    if (path.starts_with("/v1/clients/")) {
      if (method != http::verb::post) co_return not_allowed();
      const auto action = path.substr(12);
      if (action == "erase") co_return co_await erase_client(req);
      if (action == "lookup" || action == "verify" || action == "restrict") co_return co_await client_call(req, action);
      co_return error_reply(404, "not_found", "no such endpoint");
    }
    if (path == "/v1/sessions") {
      if (method == http::verb::post) co_return co_await book(req);
      if (method == http::verb::get) co_return co_await list_sessions(query);
      co_return not_allowed();
    }
    if (path.starts_with("/v1/sessions/")) {
      std::string_view rest = path.substr(13);
      if (rest.ends_with("/end")) {
        if (method != http::verb::post) co_return not_allowed();
        if (auto e = ctx_.relay.bookings().end_by_operator(std::string(rest.substr(0, rest.size() - 4))))
          co_return error_reply(*e);
        co_return json_reply(200, json::object{{"status", "ending"}});
      }
      if (method != http::verb::get) co_return not_allowed();
      const std::string id(rest);
      co_return co_await get_session(id);
    }
    co_return error_reply(404, "not_found", "no such endpoint");
  }

 private:
  static Reply not_allowed() { return error_reply(405, "method_not_allowed", "method not allowed here"); }

  bool authorised(const Request& req) const {
    const auto h = req[http::field::authorization];
    constexpr std::string_view prefix = "Bearer ";
    if (!h.starts_with(prefix)) return false;
    return crypto::secrets_equal(h.substr(prefix.size()), ctx_.token);
  }

  Reply list_talents() {
    json::array out;
    for (const auto& t : ctx_.relay.bookings().talents())
      out.emplace_back(json::object{{"alias", t.alias},
                                    {"status", "active"},
                                    {"online", t.online},
                                    {"open_sessions", t.open_sessions},
                                    {"created_at", proto::rfc3339(t.created_at)}});
    return json_reply(200, json::object{{"talents", std::move(out)}});
  }

  asio::awaitable<Reply> add_talent(const Request& req) {
    std::optional<Reply> err;
    auto body = json_body(req, err);
    if (!body) co_return *err;
    auto alias = string_member(*body, "alias", err);
    if (!alias) co_return *err;
    auto secret = string_member(*body, "secret", err);
    if (!secret) co_return *err;
    auto result = co_await await_callback<std::optional<BookingError>>(
        [&](auto done) { ctx_.relay.bookings().add_talent(*alias, std::move(*secret), std::move(done)); });
    if (result) co_return error_reply(*result);
    co_return json_reply(201, json::object{{"alias", *alias}});
  }

  // Class-type arguments are the caller's named locals, never temporaries in
  // the co_await expression (GCC 12, PR 99576).
  asio::awaitable<Reply> remove_talent(const std::string& alias) {
    auto result = co_await await_callback<std::optional<BookingError>>(
        [&](auto done) { ctx_.relay.bookings().remove_talent(alias, std::move(done)); });
    if (result) co_return error_reply(*result);
    co_return json_reply(204, nullptr);
  }

  asio::awaitable<Reply> book(const Request& req) {
    std::optional<Reply> err;
    auto body = json_body(req, err);
    if (!body) co_return *err;
    BookRequest br;
    for (auto [key, out] : {std::pair{"talent", &br.talent}, {"client", &br.client_number}, {"package", &br.package}}) {
      auto v = string_member(*body, key, err);
      if (!v) co_return *err;
      *out = std::move(*v);
    }
    if (const auto* sms = body->if_contains("sms")) {
      if (!sms->is_bool()) co_return error_reply(400, "bad_request", "field 'sms' must be true or false");
      br.sms = sms->get_bool();
    }
    auto result = co_await await_callback<BookResult>(
        [&](auto done) { ctx_.relay.bookings().book(std::move(br), std::move(done)); });
    if (auto* e = std::get_if<BookingError>(&result)) co_return error_reply(*e);
    const auto& b = std::get<Booking>(result);
    json::object o{{"session", b.session},
                   {"client_alias", b.client_alias},
                   {"client_token", b.client_token},
                   {"expires_at", proto::rfc3339(b.expires_at)}};
    if (!b.proxy_number.empty()) o["proxy_number"] = b.proxy_number;
    co_return json_reply(201, std::move(o));
  }

  asio::awaitable<Reply> erase_client(const Request& req) {
    const auto answer_at = std::chrono::steady_clock::now() + equal_answer_time;
    std::optional<Reply> err;
    auto body = json_body(req, err);
    if (!body) co_return *err;
    auto number = string_member(*body, "client", err);
    if (!number) co_return *err;
    auto result = co_await await_callback<std::optional<BookingError>>(
        [&](auto done) { ctx_.relay.bookings().erase_client(std::move(*number), std::move(done)); });
    co_await answer_no_sooner_than(answer_at);
    if (result) co_return error_reply(*result);
    co_return json_reply(200, json::object{{"status", "erased"}});
  }

  // lookup, verify and restrict: each takes {"client"} and a field of its own.
  asio::awaitable<Reply> client_call(const Request& req, std::string_view action) {
    const auto answer_at = std::chrono::steady_clock::now() + equal_answer_time;
    std::optional<Reply> err;
    auto body = json_body(req, err);
    if (!body) co_return *err;
    auto number = string_member(*body, "client", err);
    if (!number) co_return *err;
    if (action == "lookup") {
      auto result = co_await await_callback<StandingResult>(
          [&](auto done) { ctx_.relay.ratings().lookup_client(std::move(*number), std::move(done)); });
      if (auto* e = std::get_if<StandingError>(&result)) co_return error_reply(*e);
      const auto& s = std::get<store::ClientStanding>(result);
      json::object o{{"verified", s.verified},
                     {"restricted", s.restricted},
                     {"rating", json::object{{"average", s.ratings ? json::value(s.average) : json::value(nullptr)},
                                             {"count", s.ratings}}},
                     {"sessions", s.sessions}};
      if (s.verified) {
        o["verify_method"] = s.verify_method;
        o["verified_at"] = proto::rfc3339(*s.verified_at);
      }
      co_return json_reply(200, std::move(o));
    }
    std::optional<StandingError> result;
    if (action == "verify") {
      auto method = string_member(*body, "method", err);
      if (!method) co_return *err;
      result = co_await await_callback<std::optional<StandingError>>([&](auto done) {
        ctx_.relay.ratings().verify_client(std::move(*number), std::move(*method), std::move(done));
      });
    } else {
      const auto* r = body->if_contains("restricted");
      if (!r || !r->is_bool()) co_return error_reply(400, "bad_request", "field 'restricted' must be true or false");
      const bool restricted = r->get_bool();
      result = co_await await_callback<std::optional<StandingError>>([&](auto done) {
        ctx_.relay.ratings().restrict_client(std::move(*number), restricted, std::move(done));
      });
    }
    // Verify and restrict create the client when the number is new (so an
    // operator can verify or bar someone before a first booking); the
    // answer's time does not say whether it was.
    co_await answer_no_sooner_than(answer_at);
    if (result) co_return error_reply(*result);
    co_return json_reply(200, json::object{{"status", "ok"}});
  }

  asio::awaitable<Reply> list_sessions(std::string_view query) {
    std::optional<proto::SessionState> state;
    if (query.starts_with("state=")) {
      state = proto::session_state_from(query.substr(6));
      if (!state) co_return error_reply(400, "bad_request", "state is one of open, active, closing, closed");
    } else if (!query.empty()) {
      co_return error_reply(400, "bad_request", "the only query parameter is state");
    }
    auto rows = co_await store_read<std::vector<store::SessionRecord>>(
        ctx_.store, [state](store::Store& st) { return st.sessions(state); });
    if (!rows) co_return error_reply(500, "internal", "sessions could not be read");
    json::array out;
    for (const auto& r : *rows) out.emplace_back(session_json(r));
    co_return json_reply(200, json::object{{"sessions", std::move(out)}});
  }

  asio::awaitable<Reply> get_session(const std::string& id) {
    auto read = [id](store::Store& st) { return st.session(id); };
    auto row = co_await store_read<std::optional<store::SessionRecord>>(ctx_.store, read);
    if (!row) co_return error_reply(500, "internal", "the session could not be read");
    if (!*row) co_return error_reply(404, "unknown_session", "no such session");
    co_return json_reply(200, session_json(**row));
  }

  AdminContext& ctx_;
};

}  // namespace

asio::awaitable<void> run_admin_listener(tcp::acceptor& acceptor, AdminContext& context) {
  auto make = [&context]() -> Handler {
    auto router = std::make_shared<AdminRouter>(context);
    return [router](const Request& req) { return router->handle(req); };
  };
  // What the log may say of a path (AdminRouter::handle is the truth).
  static constexpr std::string_view routes[] = {
      "/v1/health",         "/metrics",           "/v1/packages",       "/v1/talents",
      "/v1/talents/{alias}", "/v1/clients/erase", "/v1/clients/lookup", "/v1/clients/verify",
      "/v1/clients/restrict", "/v1/sessions",     "/v1/sessions/{id}",  "/v1/sessions/{id}/end",
  };
  co_await run_listener(acceptor, context.tls, make, "admin", routes);
}

}  // namespace tirai::relay
