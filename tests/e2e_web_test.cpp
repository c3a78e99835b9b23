// The web apps' side of the real tiraid: its ports serve the pages, the
// booking gives the session link, and /v1/ws takes no page of another origin.
#include "support/relay_fixture.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <fstream>

using namespace tirai;
using namespace tirai::test;
namespace json = boost::json;

namespace {

client::HttpResponse get(std::uint16_t port, std::string_view target) {
  return client::AdminClient("127.0.0.1", port, "").request("GET", target);
}

// Says hello as the client over an upgrade that carried `headers`.
std::string hello_with(Relay& r, const json::object& booking, const client::Headers& headers) {
  client::WsClient ws("127.0.0.1", r.daemon.relay_port(), std::chrono::seconds(10), "/v1/ws", {}, headers);
  ws.send(fmt::format(R"({{"type":"hello","role":"client","token":"{}"}})", booking.at("client_token").as_string()));
  return ws.receive();
}

}  // namespace

TEST_CASE("tiraid serves the talent console and the client page on the relay port, the operator page on the admin port",
          "[e2e][web]") {
  Relay r;
  const auto relay = r.daemon.relay_port(), admin = r.daemon.admin_port();
  for (const char* page : {"/talent/", "/s/"}) {
    INFO(page);
    const auto res = get(relay, page);
    CHECK(res.status == 200);
    CHECK_THAT(res.body, Catch::StartsWith("<!doctype html>", Catch::CaseSensitive::No));
  }
  CHECK(get(relay, "/talent").status == 308);
  CHECK(get(relay, "/").status == 404);            // the relay port has no operator page
  CHECK(get(relay, "/nothing.js").status == 404);
  CHECK(get(admin, "/").status == 200);
  CHECK(get(admin, "/talent/").status == 401);     // nor the admin port a talent console
  CHECK(get(admin, "/v1/health").status == 200);
  // What the operator page offers at booking: no proxy numbers without [sms].
  const auto offer = parse(r.call("GET", "/v1/packages").body);
  CHECK(offer.at("sms") == false);
  CHECK(offer.at("packages").as_array().size() == 2);
}

TEST_CASE("a booking gives the client's session link, its token in the fragment", "[e2e][web]") {
  SECTION("on the address listened on") {
    Relay r;
    r.enrol("natasha");
    const auto b = r.book("natasha");
    CHECK(b.at("client_link").as_string() ==
          fmt::format("http://127.0.0.1:{}/s/#{}", r.daemon.relay_port(), std::string(b.at("client_token").as_string())));
  }
  SECTION("on relay.public_url, written as the operator likes") {
    Relay r("[relay]\npublic_url = \"HTTPS://Chat.Example.com:443/\"\n");
    r.enrol("natasha");
    const auto b = r.book("natasha");
    CHECK(b.at("client_link").as_string() ==
          "https://chat.example.com/s/#" + std::string(b.at("client_token").as_string()));
  }
}

TEST_CASE("/v1/ws refuses an upgrade from another origin's page, and lets its own origin and native apps in",
          "[e2e][web][privacy]") {
  SECTION("the default origin is the address listened on") {
    Relay r;
    r.enrol("natasha");
    const auto b = r.book("natasha");
    const auto own = fmt::format("http://127.0.0.1:{}", r.daemon.relay_port());
    CHECK_THAT(hello_with(r, b, {{"Origin", own}}), Catch::Contains(R"("type":"welcome")"));
    CHECK_THAT(hello_with(r, b, {}), Catch::Contains(R"("type":"welcome")"));
    CHECK_THROWS_AS(hello_with(r, b, {{"Origin", "http://evil.example"}}), client::ClientError);
    CHECK_THROWS_AS(hello_with(r, b, {{"Origin", "null"}}), client::ClientError);
    CHECK_THROWS_AS(hello_with(r, b, {{"Origin", own + ".evil.example"}}), client::ClientError);
    const auto metrics = r.call("GET", "/metrics").body;
    CHECK_THAT(metrics, Catch::Contains(R"(tirai_connections_refused_total{reason="origin"} 3)"));
  }
  SECTION("with relay.public_url, that origin and no other") {
    Relay r("[relay]\npublic_url = \"https://chat.example.com\"\n");
    r.enrol("natasha");
    const auto b = r.book("natasha");
    CHECK_THAT(hello_with(r, b, {{"Origin", "https://chat.example.com"}}), Catch::Contains(R"("type":"welcome")"));
    CHECK_THROWS_AS(hello_with(r, b, {{"Origin", fmt::format("http://127.0.0.1:{}", r.daemon.relay_port())}}),
                    client::ClientError);
  }
}

TEST_CASE("a relay on every address needs relay.public_url to start", "[e2e][web]") {
  TempDir dir;
  const auto cfg = (dir.path() / "tiraid.toml").string();
  std::ofstream(cfg) << "[relay]\nlisten = \"0.0.0.0:0\"\nallow_plaintext = true\n";
  auto [rc, out] = client::run_program(TIRAID_PATH, {"--config", cfg});
  CHECK(rc != 0);
  CHECK_THAT(out, Catch::Contains("relay.public_url: must be set when relay.listen (0.0.0.0:0) is every address"));
}

TEST_CASE("a resume ticket from the welcome lets a reloaded page back in, until logout or teardown", "[e2e][web]") {
  Relay r("[sessions]\ngrace = \"0s\"\n");
  r.enrol("natasha");
  const auto b = r.book("natasha");
  const auto hello = [&](std::string_view frame) {
    auto ws = r.daemon.ws();
    ws.send(frame);
    return ws;
  };
  auto talent = hello(fmt::format(R"({{"type":"hello","role":"talent","alias":"natasha","secret":"{}"}})", secret));
  const auto welcome = parse(talent.receive());
  const std::string ticket(welcome.at("resume").as_string());
  CHECK(ticket.size() == 43);
  auto client = hello(fmt::format(R"({{"type":"hello","role":"client","token":"{}"}})",
                                  std::string(b.at("client_token").as_string())));
  const std::string client_ticket(parse(client.receive()).at("resume").as_string());

  // Kept across a kill -9: once a later message is accepted (a durable commit
  // behind the tickets' writes), a restart logs nobody out.
  client.send(send_frame(b, "m1", "hello"));
  REQUIRE(expect(client, "accepted")["seq"] == 1);
  r.daemon.kill9();
  r.daemon.start();

  // Reloaded: the ticket alone, and the same welcome comes back with it.
  auto again = hello(fmt::format(R"({{"type":"hello","role":"talent","resume":"{}"}})", ticket));
  auto w = parse(again.receive());
  CHECK(w.at("type") == "welcome");
  CHECK(w.at("resume") == ticket.c_str());
  CHECK(w.at("sessions").as_array().at(0).as_object().at("session") == b.at("session"));
  auto client_again = hello(fmt::format(R"({{"type":"hello","role":"client","resume":"{}"}})", client_ticket));
  CHECK(parse(client_again.receive()).at("sessions").as_array().size() == 1);

  // A wrong ticket, or one for the other role, fails exactly as a wrong secret does.
  auto wrong_secret = hello(R"({"type":"hello","role":"talent","alias":"natasha","secret":"not the secret at all"})");
  const auto refused = wrong_secret.receive();
  CHECK(hello(R"({"type":"hello","role":"talent","resume":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})").receive() == refused);
  CHECK(hello(fmt::format(R"({{"type":"hello","role":"client","resume":"{}"}})", ticket)).receive() == refused);

  // Logout: this connection closes normally and no ticket of hers works any more.
  again.send(R"({"type":"logout"})");
  CHECK(again.wait_closed() == 1000);
  CHECK(hello(fmt::format(R"({{"type":"hello","role":"talent","resume":"{}"}})", ticket)).receive() == refused);

  // Teardown: the client's ticket dies with the session.
  REQUIRE(r.call("POST", fmt::format("/v1/sessions/{}/end", sid(b))).status == 200);
  CHECK(client_again.wait_closed() > 0);
  CHECK(hello(fmt::format(R"({{"type":"hello","role":"client","resume":"{}"}})", client_ticket)).receive() == refused);
}

TEST_CASE("a talent deletes her own account with her secret: erased at once, her sessions end", "[e2e][web][privacy]") {
  Relay r("[sessions]\ngrace = \"0s\"\n");
  r.enrol("natasha");
  const auto b = r.book("natasha");
  auto talent = r.daemon.ws();
  talent.send(fmt::format(R"({{"type":"hello","role":"talent","alias":"natasha","secret":"{}"}})", secret));
  const std::string ticket(parse(talent.receive()).at("resume").as_string());
  auto client = r.client(b);

  // A wrong secret deletes nothing and leaves her logged in.
  talent.send(R"({"type":"delete_account","secret":"not the secret at all"})");
  auto refused = expect(talent, "error");
  CHECK(refused.at("code") == "auth_failed");
  CHECK(parse(r.call("GET", "/v1/talents").body).at("talents").as_array().size() == 1);
  // A client cannot delete anyone.
  client.send(R"({"type":"delete_account","secret":"correct horse battery"})");
  CHECK(expect(client, "error").at("code") == "not_allowed");

  talent.send(fmt::format(R"({{"type":"delete_account","secret":"{}"}})", secret));
  CHECK(parse(talent.receive()).at("type") == "account_deleted");
  CHECK(talent.wait_closed() == 1000);
  // Her client hears the session end, and it ends at once.
  const auto closing = expect(client, "session");
  CHECK(closing.at("reason") == "talent_removed");
  CHECK(parse(r.call("GET", "/v1/talents").body).at("talents").as_array().empty());
  // Nothing of her opens a door: not her secret, not her ticket, and her alias is retired.
  auto again = r.daemon.ws();
  again.send(fmt::format(R"({{"type":"hello","role":"talent","resume":"{}"}})", ticket));
  CHECK(expect(again, "error").at("code") == "auth_failed");
  CHECK(r.call("POST", "/v1/talents", json::object{{"alias", "natasha"}, {"secret", secret}}).status == 409);
}

TEST_CASE("a right secret deletes the account even when her connection drops before the answer",
          "[e2e][web][privacy]") {
  Relay r;
  r.enrol("natasha");
  auto talent = r.talent("natasha");
  const auto from = r.daemon.log_lines();
  talent.send(fmt::format(R"({{"type":"delete_account","secret":"{}"}})", secret));
  talent.close();  // her phone lost the network while the secret was checked
  REQUIRE(r.daemon.wait_for_log("talent natasha deleted her account", from));
  CHECK(parse(r.call("GET", "/v1/talents").body).at("talents").as_array().empty());
  // And the secret she typed is in no log line.
  CHECK(r.daemon.log().find(secret) == std::string::npos);
}

TEST_CASE("send_link is refused before anything is booked when the link cannot be texted", "[e2e][web]") {
  Relay r;
  r.enrol("natasha");
  const auto book = [&](json::value send_link) {
    return r.call("POST", "/v1/sessions",
                  json::object{{"talent", "natasha"}, {"client", "+6281234567890"}, {"package", "chat-30m"},
                               {"send_link", send_link}});
  };
  auto no_sms = book(true);
  CHECK(no_sms.status == 400);
  CHECK(parse(no_sms.body).at("error") == "bad_request");
  CHECK(parse(no_sms.body).at("message").as_string().find("[sms] enabled") != std::string::npos);
  CHECK(book("yes").status == 400);
  CHECK(parse(r.call("GET", "/v1/sessions").body).at("sessions").as_array().empty());
  // Without it, the booking goes ahead and says nothing of a text.
  auto ok = book(false);
  REQUIRE(ok.status == 201);
  CHECK_FALSE(parse(ok.body).contains("link_sent"));
}
