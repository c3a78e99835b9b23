#include "relay/phone/phone_listener.hpp"

#include "crypto/secret.hpp"
#include "proto/sms.hpp"
#include "proto/wipe.hpp"
#include "relay/http/server.hpp"

namespace tirai::relay {

using namespace httpd;

namespace {

Reply text_reply(SeamAnswer a) {
  Reply r;
  r.status = a.status;
  // No body at all for a refusal (the server would write JSON null for an empty text).
  r.content_type = a.body.empty() ? "" : "text/plain";
  r.raw = std::move(a.body);
  proto::wipe(a.body);
  return r;
}

// The query's values by name; every value is wiped when this goes (a caller's number among them).
struct Params {
  explicit Params(std::string_view query) : all(proto::parse_query(query)) {}
  ~Params() {
    if (all)
      for (auto& kv : *all) proto::wipe(kv.second);
  }
  Params(const Params&) = delete;
  Params& operator=(const Params&) = delete;
  // The value of `name`; nullptr when it is missing or given twice (a
  // caller's number could otherwise smuggle in a second "dialog").
  const std::string* get(std::string_view name) const {
    if (!all) return nullptr;
    const std::string* found = nullptr;
    for (const auto& [k, v] : *all) {
      if (k != name) continue;
      if (found) return nullptr;
      found = &v;
    }
    return found;
  }
  std::optional<std::vector<std::pair<std::string, std::string>>> all;
};

Reply bad_request(std::string_view what) {
  Reply r;
  r.status = 400;
  r.content_type = "text/plain";
  r.raw = std::string(what);
  return r;
}

// Kamailio's questions. Each is answered at once (the relay thread's state
// decides; nothing is stored before the answer).
asio::awaitable<Reply> handle_inbound(Phone& phone, const Call& c) {
  Params p(c.query);
  const auto *from = p.get("from"), *to = p.get("to"), *dialog = p.get("dialog");
  if (!from || !to || !dialog) co_return bad_request("from, to and dialog are required");
  const auto* tx = p.get("tx");
  co_return text_reply(phone.inbound(*from, *to, *dialog, tx ? std::string_view(*tx) : std::string_view()));
}

asio::awaitable<Reply> handle_outbound(Phone& phone, const Call& c) {
  Params p(c.query);
  const auto *talent = p.get("talent"), *session = p.get("session"), *dialog = p.get("dialog");
  if (!talent || !session || !dialog) co_return bad_request("talent, session and dialog are required");
  const auto* tx = p.get("tx");
  co_return text_reply(phone.outbound(*talent, *session, *dialog, tx ? std::string_view(*tx) : std::string_view()));
}

asio::awaitable<Reply> handle_event(Phone& phone, const Call& c) {
  Params p(c.query);
  const auto *dialog = p.get("dialog"), *event = p.get("event");
  if (!dialog || !event) co_return bad_request("dialog and event are required");
  co_return text_reply(phone.event(*dialog, *event));
}

}  // namespace

asio::awaitable<void> run_phone_listener(tcp::acceptor& acceptor, Phone& phone, std::string secret,
                                         const Config::Phone& config) {
  auto listener = std::make_shared<Listener>();
  listener->tag = "phone";
  listener->header_timeout = config.header_timeout;
  listener->body_timeout = config.body_timeout;
  listener->header_limit = config.max_header_bytes;
  listener->token = [secret = std::move(secret)](std::string_view token) { return crypto::secrets_equal(token, secret); };
  const auto route = [&](std::string_view path, asio::awaitable<Reply> (*handle)(Phone&, const Call&)) {
    listener->routes.push_back(
        Route(http::verb::get, path, [&phone, handle](const Call& c) { return handle(phone, c); }).takes_query());
  };
  route("/v1/phone/inbound", handle_inbound);
  route("/v1/phone/outbound", handle_outbound);
  route("/v1/phone/event", handle_event);
  co_await run_listener(acceptor, std::move(listener));
}

}  // namespace tirai::relay
