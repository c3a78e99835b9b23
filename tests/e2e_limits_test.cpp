// Limits under abuse, end to end: open files, unauthenticated connections per
// address, and the login limits behind a trusted proxy, on a real tiraid.
#include "support/relay_fixture.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <regex>

using namespace tirai;
using namespace tirai::test;

namespace {

// A plain TCP connection to the relay from `source` (any 127.x address).
class RawConnection {
 public:
  RawConnection(const std::string& source, std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    REQUIRE(::inet_pton(AF_INET, source.c_str(), &from.sin_addr) == 1);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  }
  ~RawConnection() { close(); }
  RawConnection(RawConnection&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  RawConnection& operator=(RawConnection&&) = delete;

  void close() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }
  bool try_write(std::string_view s) {
    return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  // True when the peer closed (or reset) the connection within `timeout`;
  // anything it sent before is read and dropped.
  bool closed_within(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char buf[4096];
      if (::recv(fd_, buf, sizeof buf, 0) <= 0) return true;
    }
  }
  void write(std::string_view s) { REQUIRE(::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size())); }
  // What the relay sends until it closes (or `timeout` passes: then nullopt).
  std::optional<std::string> read_to_end(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char buf[4096];
      const auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
};

// Sends `data` one byte every `pace` until the peer closes the connection
// (then the bytes it had taken) or all of it is sent (then nullopt). The
// pace is the slow client under test, not a wait for anything.
std::optional<std::size_t> drip(RawConnection& c, std::string_view data, std::chrono::milliseconds pace) {
  for (std::size_t sent = 0; sent < data.size(); ++sent) {
    if (c.closed_within(pace)) return sent;
    if (!c.try_write(data.substr(sent, 1))) return sent;
  }
  return std::nullopt;
}

// A config with all four listeners (relay, admin, SMS, the phone seam on
// `seam`), each with `deadline` as its header and body timeouts.
std::string four_listeners(std::uint16_t seam, std::string_view deadline) {
  return fmt::format(
      "[relay]\nhello_timeout = \"{0}\"\n"
      "[admin]\nheader_timeout = \"{0}\"\nbody_timeout = \"{0}\"\n"
      "{3}header_timeout = \"{0}\"\nbody_timeout = \"{0}\"\n"
      "[phone]\nenabled = true\nlisten = \"127.0.0.1:{1}\"\nkamailio_rpc = \"127.0.0.1:{2}\"\n"
      "header_timeout = \"{0}\"\nbody_timeout = \"{0}\"\n",
      deadline, seam, client::free_port(), sms_table({"+6281100000001"}));
}

std::size_t count_lines(const std::string& log, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("a low open-file limit: the relay keeps files in reserve and the health check gets through",
          "[e2e][limits]") {
  test::TempDir dir;
  client::TiraidProcess daemon(TIRAID_PATH, dir.path(), "[relay]\nhello_timeout = \"60s\"\nmax_unauthenticated_per_address = 1000\n");
  daemon.start_with({"/usr/bin/prlimit", "--nofile=160:160", "--"});
  CHECK(daemon.wait_for_log("relay.max_connections lowered from 50000 to 96"));
  const auto from = daemon.log_lines();
  std::vector<RawConnection> idle;
  for (int i = 0; i < 140; ++i) idle.emplace_back("127.0.0.1", daemon.relay_port());
  REQUIRE(daemon.wait_for_log("refusing connections: relay.max_connections (96) reached", from));
  // The 44 over the limit were closed as they were accepted.
  std::size_t closed = 0;
  for (std::size_t i = 96; i < idle.size(); ++i) closed += idle[i].read_to_end().has_value();
  CHECK(closed == 44);
  auto health = daemon.admin().request("GET", "/v1/health");
  CHECK(health.status == 200);
  const auto log = daemon.log();
  CHECK(count_lines(log, "refusing connections") == 1);  // once per episode, not per connection
}

// Out of descriptors the way it happens: every one in use. tiraid starts
// with 160 and keeps the relay's connections to 96 of them; idle admin
// connections, which have no cap, take the rest. Nothing in tiraid frees a
// descriptor until the test closes them, so the episode cannot end early,
// and no limit of a running process is changed behind its back.
//
// Under UBSan, the vptr check reads a vtable by writing it into a pipe (the
// GCC 12 runtime's IsAccessibleMemoryRange). With no descriptor left the
// pipe cannot be made, and the check reports objects it cannot read as
// having "an invalid vptr" (it did so for Boost's error categories here).
// A suppressions file cannot help: UBSan reads it at its first report, when
// no descriptor is left to open it, and then ends the process. So this
// test's tiraid alone keeps running after a report (halt_on_error=0); every
// check still reports, and only tiraid's own log lines are counted.
TEST_CASE("out of file descriptors: the accept loops wait instead of spinning, and say so once",
          "[e2e][limits]") {
  test::TempDir dir;
  client::TiraidProcess d(TIRAID_PATH, dir.path(), "[relay]\nhello_timeout = \"60s\"\n");
  const char* ubsan = std::getenv("UBSAN_OPTIONS");
  d.start_with({"/usr/bin/prlimit", "--nofile=160:160", "--", "/usr/bin/env",
                fmt::format("UBSAN_OPTIONS={}{}halt_on_error=0", ubsan ? ubsan : "", ubsan && *ubsan ? ":" : "")});
  const auto from = d.log_lines();
  // When a step fails, what tiraid said and how it ended tell why (its log
  // goes with the test's folder).
  const auto ended = [&d] { return fmt::format("tiraid's exit status: {}\n{}", d.stop(), d.log()); };
  std::vector<RawConnection> holders;
  for (int i = 0; i < 160; ++i) holders.emplace_back("127.0.0.1", d.admin_port());
  if (!d.wait_for_log("[admin] cannot accept connections", from)) FAIL("the admin listener never ran out\n" << ended());
  std::vector<RawConnection> waiting;
  for (int i = 0; i < 20; ++i) waiting.emplace_back("127.0.0.1", d.relay_port());
  if (!d.wait_for_log("[relay] cannot accept connections", from)) FAIL("the relay listener never ran out\n" << ended());
  // Nothing can be accepted now: a health check waits in the backlog.
  RawConnection health("127.0.0.1", d.admin_port());
  health.write("GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  if (const auto early = health.read_to_end(std::chrono::milliseconds(500)))
    FAIL("the admin listener answered while out of descriptors: [" << *early << "]\n" << ended());
  holders.clear();
  // Each listener's last episode ends once it accepts again. An episode may
  // also end early, when a descriptor came free for a moment, and a new one
  // begin: so wait for the end lines one after the other until every
  // episode that began has ended, rather than for the first of them.
  const auto all_ended = [&](const std::string& tag) {
    for (;;) {
      const auto now = d.lines(from);
      std::size_t began = 0, again = 0, after = from;
      for (std::size_t i = 0; i < now.size(); ++i) {
        if (now[i].find(tag + " cannot accept connections") != std::string::npos) ++began;
        if (now[i].find(tag + " accepting connections again after") != std::string::npos) {
          ++again;
          after = from + i + 1;
        }
      }
      if (began > 0 && again == began) return true;
      if (!d.wait_for_log(tag + " accepting connections again after", after)) return false;
    }
  };
  if (!all_ended("[relay]") || !all_ended("[admin]")) FAIL("no accept after descriptors were freed\n" << ended());
  const auto answered = health.read_to_end();
  REQUIRE(answered);
  CHECK(answered->starts_with("HTTP/1.1 200"));
  std::string log;
  for (const auto& l : d.lines(from)) log += l + "\n";
  INFO(log);
  // A line when an episode begins and one when it ends, per listener, not
  // one per attempt. An episode ends early only if a descriptor comes free
  // meanwhile, which tiraid itself never does here; the sanitizers' runtime,
  // which opens and closes pipes of its own, seldom can. So: a few at most.
  std::size_t failed = 0;
  for (const std::string tag : {"[relay]", "[admin]"}) {
    INFO(tag);
    const auto began = count_lines(log, tag + " cannot accept connections");
    CHECK(began >= 1);
    CHECK(began <= 3);
    CHECK(count_lines(log, tag + " accepting connections again after") == began);
  }
  // A retry every 50 ms: a few dozen attempts in this time, not a spinning core's millions.
  const std::regex again(R"(\[relay\] accepting connections again after (\d+) failed)");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), again); it != std::sregex_iterator(); ++it)
    failed += std::stoul((*it)[1]);
  CHECK(failed > 0);
  CHECK(failed < 400);
  // tiraid's own lines (a timestamp first), not what a sanitizer printed.
  const auto lines = d.lines(from);
  CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
          return std::regex_search(l, std::regex(R"(^\d{4}-\d\d-\d\dT)"));
        }) < 12);
  // The connections that waited in the backlog are served now.
  waiting.front().write("GET /elsewhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const auto answer = waiting.front().read_to_end();
  REQUIRE(answer);
  CHECK(answer->starts_with("HTTP/1.1 404"));
}

TEST_CASE("unauthenticated connections are capped per source address, and logged-in ones do not count",
          "[e2e][limits]") {
  Relay r("[relay]\nmax_unauthenticated_per_address = 4\n");
  r.enrol("natasha");
  auto& d = r.daemon;
  // Logged in: these four no longer count.
  std::vector<WsClient> talents;
  for (int i = 0; i < 4; ++i) talents.push_back(r.talent("natasha"));
  std::vector<RawConnection> idle;
  for (int i = 0; i < 6; ++i) idle.emplace_back("127.0.0.1", d.relay_port());
  // The fifth and sixth are closed at once, without a word.
  for (int i = 4; i < 6; ++i) {
    auto got = idle[static_cast<std::size_t>(i)].read_to_end();
    REQUIRE(got);
    CHECK(got->empty());
  }
  // Another address is not affected, and the first four are served.
  RawConnection other("127.0.0.2", d.relay_port());
  for (auto* c : {&other, &idle[0]}) {
    c->write("GET /elsewhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    auto got = c->read_to_end();
    REQUIRE(got);
    INFO(*got);
    CHECK(got->starts_with("HTTP/1.1 404"));
  }
  const auto metrics = r.call("GET", "/metrics").body;
  INFO(metrics);
  CHECK(metrics.find("tirai_connections_refused_total{reason=\"per_address\"} 2") != std::string::npos);
}

TEST_CASE("behind a trusted proxy the login limits count the forwarded client, and only then", "[e2e][limits]") {
  const auto wrong_hello = R"({"type":"hello","role":"talent","alias":"natasha","secret":"wrong secret here"})";
  const auto right_hello = fmt::format(R"({{"type":"hello","role":"talent","alias":"natasha","secret":"{}"}})", secret);
  const auto code_for = [](Relay& r, const std::string& hello, const client::Headers& headers) {
    WsClient ws("127.0.0.1", r.daemon.relay_port(), std::chrono::seconds(10), "/v1/ws", {}, headers);
    ws.send(hello);
    auto f = parse(ws.receive());
    return std::string(f["type"] == "welcome" ? "welcome" : f["code"].as_string().c_str());
  };
  SECTION("trusted: each forwarded client has its own failures") {
    Relay r("[relay]\ntrusted_proxies = [\"127.0.0.0/8\"]\n[policy]\nlogin_attempts_per_minute = 2\n");
    r.enrol("natasha");
    // The rightmost address that is not a proxy counts: what the client wrote to its left is ignored.
    const client::Headers a{{"X-Forwarded-For", "198.51.100.1, 203.0.113.7"}};
    CHECK(code_for(r, wrong_hello, a) == "auth_failed");
    CHECK(code_for(r, wrong_hello, {{"X-Forwarded-For", "198.51.100.2, 203.0.113.7"}}) == "auth_failed");
    CHECK(code_for(r, right_hello, a) == "rate_limited");
    CHECK(code_for(r, right_hello, {{"Forwarded", "for=203.0.113.8;proto=https"}}) == "welcome");
    CHECK(code_for(r, right_hello, {{"X-Forwarded-For", "203.0.113.9"}}) == "welcome");
  }
  SECTION("not trusted: the headers are ignored and the peer's address counts") {
    Relay r("[policy]\nlogin_attempts_per_minute = 2\n");
    r.enrol("natasha");
    CHECK(code_for(r, wrong_hello, {{"X-Forwarded-For", "203.0.113.1"}}) == "auth_failed");
    CHECK(code_for(r, wrong_hello, {{"X-Forwarded-For", "203.0.113.2"}}) == "auth_failed");
    CHECK(code_for(r, right_hello, {{"X-Forwarded-For", "203.0.113.3"}}) == "rate_limited");
  }
}

// Slowloris: a client that sends its request a byte at a time (here one
// every 100 ms) holds a connection only until the listener's deadline (1 s
// here), on every listener; the head, the body and an idle kept-alive
// connection each have theirs. Well-behaved requests are answered meanwhile.
TEST_CASE("slowloris: every listener drops a request sent a byte at a time at its deadline", "[e2e][limits]") {
  test::TempDir dir;
  const auto seam = client::free_port();
  client::TiraidProcess d(TIRAID_PATH, dir.path(), four_listeners(seam, "1s"));
  d.start();
  constexpr auto pace = std::chrono::milliseconds(100);
  // Sixty bytes of padding make the head take 8 s at that pace.
  const auto slow_head = [](std::string_view start) {
    return std::string(start) + "Host: x\r\nX-Padding: " + std::string(60, 'a') + "\r\n\r\n";
  };
  struct Case {
    std::string name;
    std::uint16_t port;
    std::string head, quick;  // a request sent slowly; one sent at once, which gets its answer
    int quick_status;
  };
  const std::vector<Case> cases = {
      {"relay", d.relay_port(), slow_head("GET /v1/ws HTTP/1.1\r\nUpgrade: websocket\r\n"),
       "GET /talent/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200},
      {"admin", d.admin_port(), slow_head("GET /v1/health HTTP/1.1\r\n"),
       "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200},
      {"sms", d.sms_port(), slow_head("GET /v1/sms/kannel?secret=x HTTP/1.1\r\n"),
       "GET /v1/sms/kannel HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 403},
      {"phone", seam, slow_head("GET /v1/phone/inbound HTTP/1.1\r\n"),
       "GET /v1/phone/inbound HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 401},
  };
  SECTION("a head sent a byte at a time is cut off on every listener, and others are answered meanwhile") {
    for (const auto& c : cases) {
      INFO("the " << c.name << " listener");
      RawConnection slow("127.0.0.1", c.port);
      slow.write(c.head.substr(0, 4));
      RawConnection quick("127.0.0.1", c.port);
      quick.write(c.quick);
      const auto answer = quick.read_to_end();
      REQUIRE(answer.has_value());
      CHECK(answer->starts_with(fmt::format("HTTP/1.1 {} ", c.quick_status)));
      // At the pace, the whole head would take 8 s; half of it, 4 s.
      const auto taken = drip(slow, std::string_view(c.head).substr(4), pace);
      REQUIRE(taken.has_value());  // cut off before the head was whole
      CHECK(*taken < c.head.size() / 2);
    }
  }
  SECTION("a body sent a byte at a time is cut off too, and answered with nothing") {
    RawConnection slow("127.0.0.1", d.admin_port());
    slow.write("POST /v1/talents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 80\r\n\r\n");
    const std::string body = R"({"alias":"natasha","secret":")" + std::string(49, 's') + R"("})";
    REQUIRE(body.size() == 80);
    const auto taken = drip(slow, body, pace);
    REQUIRE(taken.has_value());
    CHECK(*taken < body.size() / 2);
  }
  SECTION("a kept-alive connection that goes quiet is closed after header_timeout") {
    RawConnection idle("127.0.0.1", d.admin_port());
    idle.write("GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(idle.closed_within(std::chrono::seconds(5)));
  }
}

// Oversized input on every listener: a head over the listener's limit, a
// body over the route's (announced, or chunked and found on the way), each
// answered 413 too_large at once and the connection closed, with tiraid
// still answering. (WebSocket messages over relay.max_frame_bytes close with
// 1009: e2e_test.cpp.)
TEST_CASE("oversized heads and bodies get 413 on every listener, which keeps serving", "[e2e][limits]") {
  test::TempDir dir;
  const auto seam = client::free_port();
  client::TiraidProcess d(TIRAID_PATH, dir.path(), four_listeners(seam, "10s"));
  d.start();
  const std::vector<std::pair<std::string, std::uint16_t>> listeners = {
      {"relay", d.relay_port()}, {"admin", d.admin_port()}, {"sms", d.sms_port()}, {"phone", seam}};
  const std::map<std::string, std::string> with_body = {{"relay", "GET /talent/"},
                                                        {"admin", "POST /v1/talents"},
                                                        {"sms", "GET /v1/sms/kannel"},
                                                        {"phone", "GET /v1/phone/event"}};
  const auto refused = [](std::uint16_t port, const std::string& request) {
    RawConnection c("127.0.0.1", port);
    // A peer that closes early may reset the rest: what was sent is enough.
    (void)c.try_write(request);
    const auto answer = c.read_to_end();
    REQUIRE(answer.has_value());  // answered, and closed
    return *answer;
  };
  for (const auto& [name, port] : listeners) {
    INFO("the " << name << " listener");
    const auto head = refused(port, "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'a') + "\r\n\r\n");
    CHECK_THAT(head, Catch::StartsWith("HTTP/1.1 413 "));
    CHECK_THAT(head, Catch::Contains(R"("error":"too_large")"));
    const auto announced = refused(port, with_body.at(name) + " HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n");
    CHECK_THAT(announced, Catch::StartsWith("HTTP/1.1 413 "));
    const auto chunked = refused(port, with_body.at(name) + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                                           "10000\r\n" + std::string(0x10000, 'b') + "\r\n0\r\n\r\n");
    CHECK_THAT(chunked, Catch::StartsWith("HTTP/1.1 413 "));
    RawConnection health("127.0.0.1", d.admin_port());
    health.write("GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const auto ok = health.read_to_end();
    REQUIRE(ok.has_value());
    CHECK(ok->starts_with("HTTP/1.1 200 "));
  }
}

TEST_CASE("max_header_bytes sets a listener's head limit", "[e2e][limits]") {
  test::TempDir dir;
  client::TiraidProcess d(TIRAID_PATH, dir.path(), "[admin]\nmax_header_bytes = 2048\n");
  d.start();
  const auto head = [&](std::size_t padding) {
    RawConnection c("127.0.0.1", d.admin_port());
    (void)c.try_write("GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: " + std::string(padding, 'a') +
                      "\r\n\r\n");
    return c.read_to_end().value_or("");
  };
  CHECK_THAT(head(1000), Catch::StartsWith("HTTP/1.1 200 "));
  CHECK_THAT(head(4000), Catch::StartsWith("HTTP/1.1 413 "));
}
