#include "relay/admin/admin_api.hpp"

#include "crypto/secret.hpp"
#include "proto/json_parse.hpp"
#include "proto/timefmt.hpp"
#include "proto/wipe.hpp"
#include "relay/http/server.hpp"
#include "relay/web/pages.hpp"
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
// answers wait until AdminContext::equal_answer_time after the request came.
asio::awaitable<void> answer_no_sooner_than(std::chrono::steady_clock::time_point at) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_at(at);
  co_await timer.async_wait(use_tuple);
}

// The operator's API (design §6), one object per listener; each public
// member answers one route of the table in run_admin_listener.
class AdminApi {
 public:
  explicit AdminApi(AdminContext& ctx) : ctx_(ctx) {}

  Reply health() const { return json_reply(200, json::object{{"status", "ok"}}); }

  Reply metrics() const {
    Reply r;
    r.raw = ctx_.metrics.render();
    r.content_type = "text/plain; version=0.0.4";
    return r;
  }

  Reply packages() const {
    json::array out;
    for (const auto& [name, p] : ctx_.bookings.packages()) {
      json::array ch;
      for (const auto& c : p.channels) ch.emplace_back(c);
      json::object o{{"name", name}, {"channels", std::move(ch)}, {"duration", format_duration(p.duration)}};
      o["max_messages"] = p.max_messages ? json::value(*p.max_messages) : json::value(nullptr);
      o["kyc_required"] = p.kyc_required;
      o["idle_timeout"] = p.idle_timeout.count() ? json::value(format_duration(p.idle_timeout)) : json::value(nullptr);
      out.emplace_back(std::move(o));
    }
    // Whether "sms" may be asked for at booking: the operator page offers it only then.
    return json_reply(200, json::object{{"packages", std::move(out)}, {"sms", ctx_.bookings.proxy_numbers_enabled()}});
  }

  Reply end_session(std::string_view id) {
    if (auto e = ctx_.bookings.end_by_operator(std::string(id))) return error_reply(*e);
    return json_reply(200, json::object{{"status", "ending"}});
  }

  Reply list_talents() {
    json::array out;
    for (const auto& t : ctx_.bookings.talents())
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
        [&](auto done) { ctx_.bookings.add_talent(*alias, std::move(*secret), std::move(done)); });
    if (result) co_return error_reply(*result);
    co_return json_reply(201, json::object{{"alias", *alias}});
  }

  // By value: the coroutine starts after the route's handler returned.
  asio::awaitable<Reply> remove_talent(std::string alias) {
    auto result = co_await await_callback<std::optional<BookingError>>(
        [&](auto done) { ctx_.bookings.remove_talent(alias, std::move(done)); });
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
    bool send_link = false;
    if (const auto* v = body->if_contains("send_link")) {
      if (!v->is_bool()) co_return error_reply(400, "bad_request", "field 'send_link' must be true or false");
      send_link = v->get_bool();
    }
    // Refused before anything is booked: the operator fixes the request and books once.
    if (send_link && (!ctx_.sms || ctx_.public_url.empty()))
      co_return error_reply(400, "bad_request", "send_link needs SMS ([sms] enabled = true); copy the link instead");
    if (send_link && br.sms == false)
      co_return error_reply(400, "bad_request", "send_link texts the link from the client's proxy number: not with \"sms\": false");
    auto result = co_await await_callback<BookResult>(
        [&](auto done) { ctx_.bookings.book(std::move(br), std::move(done)); });
    if (auto* e = std::get_if<BookingError>(&result)) co_return error_reply(*e);
    const auto& b = std::get<Booking>(result);
    json::object o{{"session", b.session},
                   {"client_alias", b.client_alias},
                   {"client_token", b.client_token},
                   {"expires_at", proto::rfc3339(b.expires_at)}};
    if (!b.proxy_number.empty()) o["proxy_number"] = b.proxy_number;
    // The token rides in the fragment: a browser sends it to no server, so
    // it is in no access log and no Referer (design §12).
    if (!ctx_.public_url.empty()) o["client_link"] = ctx_.public_url + "/s/#" + b.client_token;
    if (send_link) {
      // Answered once the text is in the durable outbox: it survives a crash from here on.
      std::string link = ctx_.public_url + "/s/#" + b.client_token;
      const bool queued = co_await await_callback<bool>(
          [&](auto done) { ctx_.sms->send_link(b.session, link, std::move(done)); });
      proto::wipe(link);
      o["link_sent"] = queued;
    }
    co_return json_reply(201, std::move(o));
  }

  // erase, lookup, verify and restrict: each takes {"client"}, verify and
  // restrict a field of their own.
  asio::awaitable<Reply> client_call(const Request& req, std::string_view action) {
    const auto answer_at = std::chrono::steady_clock::now() + ctx_.equal_answer_time;
    std::optional<Reply> err;
    auto body = json_body(req, err);
    if (!body) co_return *err;
    auto number = string_member(*body, "client", err);
    if (!number) co_return *err;
    if (action == "erase") {
      auto result = co_await await_callback<std::optional<BookingError>>(
          [&](auto done) { ctx_.bookings.erase_client(std::move(*number), std::move(done)); });
      co_await answer_no_sooner_than(answer_at);
      if (result) co_return error_reply(*result);
      co_return json_reply(200, json::object{{"status", "erased"}});
    }
    if (action == "lookup") {
      auto result = co_await await_callback<StandingResult>(
          [&](auto done) { ctx_.ratings.lookup_client(std::move(*number), std::move(done)); });
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
        ctx_.ratings.verify_client(std::move(*number), std::move(*method), std::move(done));
      });
    } else {
      const auto* r = body->if_contains("restricted");
      if (!r || !r->is_bool()) co_return error_reply(400, "bad_request", "field 'restricted' must be true or false");
      const bool restricted = r->get_bool();
      result = co_await await_callback<std::optional<StandingError>>([&](auto done) {
        ctx_.ratings.restrict_client(std::move(*number), restricted, std::move(done));
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

  asio::awaitable<Reply> get_session(std::string id) {
    auto read = [id](store::Store& st) { return st.session(id); };
    auto row = co_await store_read<std::optional<store::SessionRecord>>(ctx_.store, read);
    if (!row) co_return error_reply(500, "internal", "the session could not be read");
    if (!*row) co_return error_reply(404, "unknown_session", "no such session");
    co_return json_reply(200, session_json(**row));
  }

 private:
  AdminContext& ctx_;
};

}  // namespace

asio::awaitable<void> run_admin_listener(tcp::acceptor& acceptor, AdminContext& context) {
  auto api = std::make_shared<AdminApi>(context);
  // The bodies are small JSON objects; 16 KiB is room to spare.
  constexpr std::size_t json_body = 16 * 1024;
  using http::verb;
  auto listener = std::make_shared<Listener>();
  listener->tag = "admin";
  listener->tls = context.tls;
  listener->header_timeout = context.header_timeout;
  listener->body_timeout = context.body_timeout;
  listener->header_limit = context.max_header_bytes;
  listener->token = [&context](std::string_view token) { return crypto::secrets_equal(token, context.token); };
  // An answer that needs no waiting, as the coroutine a handler returns.
  const auto now = [](Reply r) -> asio::awaitable<Reply> { co_return r; };
  listener->routes = {
      Route(verb::get, "/v1/health", [api, now](const Call&) { return now(api->health()); }).open(),
      Route(verb::get, "/metrics", [api, now](const Call&) { return now(api->metrics()); }),
      Route(verb::get, "/v1/packages", [api, now](const Call&) { return now(api->packages()); }),
      Route(verb::get, "/v1/talents", [api, now](const Call&) { return now(api->list_talents()); }),
      Route(verb::post, "/v1/talents", [api](const Call& c) { return api->add_talent(c.request); })
          .body_up_to(json_body),
      Route(verb::delete_, "/v1/talents/{alias}",
            [api](const Call& c) { return api->remove_talent(std::string(c.params[0])); }),
      Route(verb::post, "/v1/clients/erase", [api](const Call& c) { return api->client_call(c.request, "erase"); })
          .body_up_to(json_body),
      Route(verb::post, "/v1/clients/lookup", [api](const Call& c) { return api->client_call(c.request, "lookup"); })
          .body_up_to(json_body),
      Route(verb::post, "/v1/clients/verify", [api](const Call& c) { return api->client_call(c.request, "verify"); })
          .body_up_to(json_body),
      Route(verb::post, "/v1/clients/restrict",
            [api](const Call& c) { return api->client_call(c.request, "restrict"); })
          .body_up_to(json_body),
      Route(verb::post, "/v1/sessions", [api](const Call& c) { return api->book(c.request); }).body_up_to(json_body),
      Route(verb::get, "/v1/sessions", [api](const Call& c) { return api->list_sessions(c.query); }).takes_query(),
      Route(verb::get, "/v1/sessions/{id}", [api](const Call& c) { return api->get_session(std::string(c.params[0])); }),
      Route(verb::post, "/v1/sessions/{id}/end", [api, now](const Call& c) { return now(api->end_session(c.params[0])); }),
  };
  if (context.site) {
    listener->headers = web::security_headers();
    listener->pages = web::pages_of(context.site);
  }
  co_await run_listener(acceptor, std::move(listener));
}

}  // namespace tirai::relay
