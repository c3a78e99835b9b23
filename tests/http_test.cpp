// The HTTP front every listener runs: path templates, and the rules of the
// route table (access, method, query, body limit, upgrade, admission),
// served in-process on loopback and spoken to over a real socket.
#include "relay/http/route_match.hpp"
#include "relay/http/server.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <thread>

using namespace tirai::relay;
using namespace tirai::relay::httpd;

TEST_CASE("route templates match whole segments, and {…} stands for one that is not empty", "[http]") {
  PathParams p;
  CHECK(match_path("/v1/health", "/v1/health", p));
  CHECK(p.size() == 0);
  CHECK_FALSE(match_path("/v1/health", "/v1/healthz", p));
  CHECK_FALSE(match_path("/v1/health", "/v1/health/", p));
  CHECK_FALSE(match_path("/v1/health", "/v1", p));
  CHECK(match_path("/v1/sessions/{id}/end", "/v1/sessions/s_1/end", p));
  REQUIRE(p.size() == 1);
  CHECK(p[0] == "s_1");
  CHECK_THROWS_AS(p[1], std::out_of_range);
  CHECK_FALSE(match_path("/v1/sessions/{id}/end", "/v1/sessions//end", p));
  CHECK_FALSE(match_path("/v1/talents/{alias}", "/v1/talents/", p));
  CHECK_FALSE(match_path("/v1/talents/{alias}", "/v1/talents/a/b", p));
  CHECK(match_path("/{a}/{b}", "/x/y", p));
  CHECK((p.size() == 2 && p[0] == "x" && p[1] == "y"));
  CHECK_FALSE(match_path("/{a}/{b}/{c}/{d}/{e}", "/1/2/3/4/5", p));  // more than PathParams::max
  CHECK(match_path("/", "/", p));
  CHECK_FALSE(match_path("/v1/health", "v1/health", p));
}

namespace {

namespace asio = boost::asio;

// Takes upgraded connections over: records the head and answers 101 itself.
class RecordingUpgrade final : public Upgrade {
 public:
  std::string target, upgrade_field;
  bool admitted = false;
  void take(PlainStream stream, Request head, AdmissionPtr admission) override {
    target = std::string(head.target());
    upgrade_field = std::string(head[http::field::upgrade]);
    admitted = admission != nullptr;
    boost::system::error_code ec;
    asio::write(stream.socket(), asio::buffer(std::string_view("HTTP/1.1 101 Switching Protocols\r\n\r\ntaken")), ec);
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  }
  void take(TlsStream, Request, AdmissionPtr) override { FAIL("no TLS here"); }
};

class CountedAdmission final : public Admission {
 public:
  explicit CountedAdmission(int& live) : live_(live) { ++live_; }
  ~CountedAdmission() override { --live_; }

 private:
  int& live_;
};

// A listener on 127.0.0.1 with a small table, run on its own thread.
struct Front {
  int live = 0;                     // admitted connections (the front's thread only)
  std::atomic<bool> refuse = false;  // set before a connection, read by the hook
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::shared_ptr<RecordingUpgrade> upgrade = std::make_shared<RecordingUpgrade>();
  std::thread thread;

  explicit Front(bool keep_alive = true) {
    auto l = std::make_shared<Listener>();
    l->tag = "test";
    l->keep_alive = keep_alive;
    l->token = [](std::string_view t) { return t == "sesame"; };
    const auto now = [](Reply r) -> asio::awaitable<Reply> { co_return r; };
    l->routes = {
        Route(http::verb::get, "/open", [now](const Call&) { return now(json_reply(200, json::object{{"ok", true}})); })
            .open(),
        Route(http::verb::post, "/echo/{x}",
              [now](const Call& c) {
                return now(json_reply(200, json::object{{"x", c.params[0]}, {"body", c.request.body()}}));
              })
            .body_up_to(8),
        Route(http::verb::get, "/q", [now](const Call& c) { return now(json_reply(200, json::object{{"q", c.query}})); })
            .open()
            .takes_query(),
        Route(http::verb::get, "/throws",
              [](const Call&) -> asio::awaitable<Reply> { throw std::runtime_error("broken"); })
            .open(),
        Route("/ws", upgrade).open(),
    };
    l->admit = [this](Socket&) -> std::optional<AdmissionPtr> {
      if (refuse) return std::nullopt;
      return std::make_unique<CountedAdmission>(live);
    };
    asio::co_spawn(ioc, run_listener(acceptor, l), asio::detached);
    thread = std::thread([this] { ioc.run(); });
  }
  ~Front() {
    asio::post(ioc, [this] { acceptor.close(); });
    ioc.stop();
    thread.join();
  }
  std::uint16_t port() const { return acceptor.local_endpoint().port(); }

  // Writes `raw` on a new connection and reads until the front closes it.
  std::string exchange(std::string_view raw) const {
    asio::io_context client;
    tcp::socket s(client);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port()));
    asio::write(s, asio::buffer(raw));
    std::string out;
    boost::system::error_code ec;
    asio::read(s, asio::dynamic_buffer(out), ec);
    CHECK((ec == asio::error::eof || ec == asio::error::connection_reset));
    return out;
  }
  // The live count, read on the front's thread.
  int live_now() {
    std::promise<int> p;
    asio::post(ioc, [&] { p.set_value(live); });
    return p.get_future().get();
  }
};

std::string status_of(const std::string& response) { return response.substr(0, response.find("\r\n")); }

}  // namespace

TEST_CASE("the HTTP front answers by the table: access, method, query and body limit", "[http]") {
  Front f;
  SECTION("an open route answers anyone") {
    CHECK(status_of(f.exchange("GET /open HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) == "HTTP/1.1 200 OK");
  }
  SECTION("a token route wants the token; unknown paths answer 401 too, so they tell nothing") {
    CHECK(status_of(f.exchange("POST /echo/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) ==
          "HTTP/1.1 401 Unauthorized");
    CHECK(status_of(f.exchange("GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) ==
          "HTTP/1.1 401 Unauthorized");
    CHECK(status_of(f.exchange("GET /nothing HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sesame\r\n"
                               "Connection: close\r\n\r\n")) == "HTTP/1.1 404 Not Found");
    const auto ok = f.exchange("POST /echo/abc HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sesame\r\n"
                               "Content-Length: 5\r\nConnection: close\r\n\r\nhello");
    CHECK(status_of(ok) == "HTTP/1.1 200 OK");
    CHECK_THAT(ok, Catch::EndsWith(R"({"x":"abc","body":"hello"})"));
  }
  SECTION("a known path with another method is 405, for an open path without the token too") {
    CHECK(status_of(f.exchange("DELETE /open HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) ==
          "HTTP/1.1 405 Method Not Allowed");
  }
  SECTION("a query where the route takes none is refused, not dropped") {
    CHECK(status_of(f.exchange("GET /open?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) ==
          "HTTP/1.1 400 Bad Request");
    CHECK_THAT(f.exchange("GET /q?state=open HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
               Catch::EndsWith(R"({"q":"state=open"})"));
  }
  SECTION("a body over the route's limit is 413 and the connection closes; the route never runs") {
    const auto r = f.exchange("POST /echo/a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sesame\r\n"
                              "Content-Length: 9\r\n\r\n123456789");
    CHECK(status_of(r) == "HTTP/1.1 413 Payload Too Large");
    CHECK_THAT(r, Catch::Contains("too_large") && !Catch::Contains("123456789"));
    // Over Beast's own default limit (1 MiB) too: that once closed the
    // connection without an answer.
    CHECK(status_of(f.exchange("POST /echo/a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sesame\r\n"
                               "Content-Length: 104857600\r\n\r\n")) == "HTTP/1.1 413 Payload Too Large");
  }
  SECTION("a head over the header limit is 413") {
    const std::string big(20 * 1024, 'a');
    CHECK(status_of(f.exchange("GET /open HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n")) ==
          "HTTP/1.1 413 Payload Too Large");
  }
  SECTION("a handler that throws is a 500 with a code, and the front goes on") {
    const auto r = f.exchange("GET /throws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(status_of(r) == "HTTP/1.1 500 Internal Server Error");
    CHECK_THAT(r, Catch::Contains(R"("error":"internal")") && !Catch::Contains("broken"));
    CHECK(status_of(f.exchange("GET /open HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) == "HTTP/1.1 200 OK");
  }
  SECTION("an answer to a HEAD is its fields alone, a refusal too, so the next answer is not misread") {
    // Found by tests/fuzz/admin_api.cpp: a HEAD of an unknown path got its 404's body.
    const auto r = f.exchange("HEAD /nothing HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sesame\r\n\r\n"
                              "HEAD /open HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET /open HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(status_of(r) == "HTTP/1.1 404 Not Found");
    CHECK_THAT(r, !Catch::Contains("not_found"));
    const auto second = r.find("HTTP/1.1", 1);
    REQUIRE(second != std::string::npos);
    CHECK(status_of(r.substr(second)) == "HTTP/1.1 405 Method Not Allowed");
    CHECK_THAT(r, !Catch::Contains("method_not_allowed"));
    const auto third = r.find("HTTP/1.1", second + 1);
    REQUIRE(third != std::string::npos);
    // Only the GET's answer carries the body, and it ends the stream.
    CHECK(r.find(R"({"ok":true})") > third);
    // A HEAD with a body over the limit: 413, still without a body of its own.
    const auto big = f.exchange("HEAD /open HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
    CHECK(status_of(big) == "HTTP/1.1 413 Payload Too Large");
    CHECK_THAT(big, !Catch::Contains("too_large"));
    CHECK_THAT(r.substr(third), Catch::StartsWith("HTTP/1.1 200 OK") && Catch::EndsWith(R"({"ok":true})"));
  }
  SECTION("keep-alive: requests on one connection are answered in order") {
    const auto r = f.exchange("GET /open HTTP/1.1\r\nHost: x\r\n\r\nGET /q?n=2 HTTP/1.1\r\nHost: x\r\n"
                              "Connection: close\r\n\r\n");
    const auto second = r.find("HTTP/1.1", 1);
    REQUIRE(second != std::string::npos);
    CHECK(status_of(r) == "HTTP/1.1 200 OK");
    CHECK_THAT(r.substr(second), Catch::EndsWith(R"({"q":"n=2"})"));
  }
}

TEST_CASE("the HTTP front hands an upgrade over with its head, and admits connections by its hook", "[http]") {
  Front f;
  SECTION("the upgrade route takes the stream, the head and the admission") {
    const auto r = f.exchange("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                              "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    CHECK(r == "HTTP/1.1 101 Switching Protocols\r\n\r\ntaken");
    CHECK(f.upgrade->target == "/ws");
    CHECK(f.upgrade->upgrade_field == "websocket");
    CHECK(f.upgrade->admitted);
  }
  SECTION("the upgrade path without an upgrade is 426") {
    const auto r = f.exchange("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(status_of(r) == "HTTP/1.1 426 Upgrade Required");
    CHECK(f.upgrade->target.empty());
  }
  SECTION("bytes sent before the upgrade's answer are refused, not lost") {
    const auto r = f.exchange("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                              "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nearly");
    CHECK(status_of(r) == "HTTP/1.1 400 Bad Request");
    CHECK(f.upgrade->target.empty());
  }
  SECTION("a refused connection is closed unanswered; an admitted one counts until it ends") {
    f.refuse = true;
    CHECK(f.exchange("GET /open HTTP/1.1\r\nHost: x\r\n\r\n").empty());
    f.refuse = false;
    CHECK(status_of(f.exchange("GET /open HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) == "HTTP/1.1 200 OK");
    // Each connection let go of its admission when it ended.
    CHECK(f.live_now() == 0);
  }
}

TEST_CASE("a listener without keep-alive answers one request per connection", "[http]") {
  Front f(false);
  const auto r = f.exchange("GET /open HTTP/1.1\r\nHost: x\r\n\r\nGET /open HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(status_of(r) == "HTTP/1.1 200 OK");
  CHECK(r.find("HTTP/1.1", 1) == std::string::npos);
}
