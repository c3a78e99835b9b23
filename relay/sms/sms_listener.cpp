#include "relay/sms/sms_listener.hpp"

#include "crypto/secret.hpp"
#include "proto/sms.hpp"
#include "proto/wipe.hpp"
#include "relay/http/server.hpp"

namespace tirai::relay {

using namespace httpd;

namespace {

// The gateway's HTTP status for each outcome: 2xx only when the message is
// stored or deliberately not delivered (anything else makes Kannel retry).
unsigned http_status(InboundOutcome o) {
  switch (o) {
    case InboundOutcome::stored:
    case InboundOutcome::ended:
    case InboundOutcome::out_of_session:
    case InboundOutcome::not_delivered: return 200;
    case InboundOutcome::sms_disabled:
    case InboundOutcome::unknown_proxy_number: return 404;
    case InboundOutcome::invalid_number:
    case InboundOutcome::invalid_text:
    case InboundOutcome::empty_text: return 400;
    case InboundOutcome::too_large: return 413;
    case InboundOutcome::rate_limited: return 429;
    case InboundOutcome::internal: return 500;
  }
  return 500;
}

// Kannel's sms-service calls GET /v1/sms/kannel?from=…&to=…&text=…&secret=…
// (design §9), optionally with charset (%C), coding (%c) and id (%I).
asio::awaitable<Reply> handle_sms(SmsRelay& relay, const SmsConfig& config, const Call& call) {
  auto params = proto::parse_query(call.query);
  if (!params) co_return error_reply(400, "bad_request", "the query string is malformed");
  // The decoded values (the secret, the client's number) are wiped however
  // this returns; the request itself is wiped by the server after it.
  struct WipeValues {
    std::vector<std::pair<std::string, std::string>>& v;
    ~WipeValues() {
      for (auto& kv : v) proto::wipe(kv.second);
    }
  } wipe_values{*params};
  const std::string *secret = nullptr, *from = nullptr, *to = nullptr, *text = nullptr, *charset = nullptr,
                    *id = nullptr;
  for (const auto& [k, v] : *params) {
    if (k == "secret") secret = &v;
    else if (k == "from") from = &v;
    else if (k == "to") to = &v;
    else if (k == "text") text = &v;
    else if (k == "charset") charset = &v;
    else if (k == "id") id = &v;
  }
  if (!secret || !crypto::secrets_equal(*secret, config.inbound_secret)) {
    spdlog::warn("[sms] refused an inbound request without the right secret");
    co_return error_reply(403, "forbidden", "a valid secret is required");
  }
  if (!from || !to || !text) co_return error_reply(400, "bad_request", "from, to and text are required");
  auto utf8 = proto::to_utf8(*text, charset ? std::string_view(*charset) : std::string_view{});
  if (!utf8) {
    // The charset is the caller's text: not echoed into the log.
    spdlog::warn("[sms] refused an inbound SMS (invalid_text): not valid in its charset");
    co_return error_reply(400, "invalid_text", "the text is not valid in its charset");
  }
  InboundSms sms{*from, *to, std::move(*utf8), id ? *id : std::string()};
  // Named, not a temporary inside the co_await (GCC 12 destroys those twice, PR 99576).
  auto start = [&relay, sms = std::move(sms)](auto done) mutable { relay.on_sms(std::move(sms), std::move(done)); };
  auto result = co_await await_callback<InboundResult>(std::move(start));
  const auto status = http_status(result.outcome);
  if (status >= 300) co_return error_reply(status, result.code(), result.message);
  co_return json_reply(status, json::object{{"result", result.code()}, {"message", result.message}});
}

}  // namespace

asio::awaitable<void> run_sms_listener(tcp::acceptor& acceptor, SmsRelay& sms, const SmsConfig& config) {
  auto listener = std::make_shared<Listener>();
  listener->tag = "sms";
  listener->header_timeout = config.header_timeout;
  listener->body_timeout = config.body_timeout;
  listener->header_limit = config.max_header_bytes;
  // The secret is in the query (Kannel's get-url cannot set a header); the
  // handler checks it.
  listener->routes.push_back(
      Route(http::verb::get, "/v1/sms/kannel", [&sms, &config](const Call& c) { return handle_sms(sms, config, c); })
          .open()
          .takes_query());
  co_await run_listener(acceptor, std::move(listener));
}

}  // namespace tirai::relay
