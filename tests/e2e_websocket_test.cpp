// The relay's WebSocket, byte by byte, against a real tiraid: the opening
// handshake, frames cut anywhere and fragmented, control frames, what breaks
// the protocol, the closing handshake both ways, and relay.idle_timeout's
// pings. The relay frames WebSocket itself (relay/http/ws_frames.hpp), so
// these are its conformance tests; the other e2e tests speak through Beast's
// client.
#include "support/relay_fixture.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace tirai;
using namespace tirai::test;

namespace {

struct Frame {
  int opcode = -1;  // -1: the connection ended (or nothing came in time)
  std::string payload;
  bool ended = false;  // the relay closed its end
};

// A WebSocket client on a bare socket: it writes frames (or any bytes) as
// given and reads the relay's frames one by one.
class RawWs {
 public:
  explicit RawWs(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  }
  ~RawWs() { ::close(fd_); }
  RawWs(const RawWs&) = delete;
  RawWs& operator=(const RawWs&) = delete;

  // Sends an upgrade request; returns the answer's head.
  std::string upgrade(std::string_view key = "dGhlIHNhbXBsZSBub25jZQ==", std::string_view version = "13") {
    write(fmt::format("GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: {}\r\n\r\n",
                      key, version));
    while (in_.find("\r\n\r\n") == std::string::npos)
      if (!fill()) break;
    const auto end = in_.find("\r\n\r\n");
    if (end == std::string::npos) return std::exchange(in_, {});
    std::string head = in_.substr(0, end + 4);
    in_.erase(0, end + 4);
    return head;
  }

  void write(std::string_view s) {
    REQUIRE(::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()));
  }
  // Writes `s` one byte per write (a segment each: TCP_NODELAY is not needed
  // on loopback for the relay to see them apart; what matters is that it
  // must cope either way).
  void drip(std::string_view s) {
    for (char c : s) write(std::string_view(&c, 1));
  }

  // The relay's next frame.
  Frame read(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto f = parse()) return *f;
      if (!fill(deadline)) return Frame{-1, {}, ended_};
    }
  }

 private:
  bool fill(std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::now() +
                                                              std::chrono::seconds(10)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[4096];
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      ended_ = true;
      return false;
    }
    in_.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  // A server frame: unmasked, its length in 7, 16 or 64 bits.
  std::optional<Frame> parse() {
    if (in_.size() < 2) return std::nullopt;
    const auto b1 = static_cast<std::uint8_t>(in_[1]);
    REQUIRE((b1 & 0x80) == 0);  // a server never masks
    std::size_t len = b1 & 0x7F, at = 2;
    if (len >= 126) {
      const std::size_t ext = len == 126 ? 2 : 8;
      if (in_.size() < 2 + ext) return std::nullopt;
      len = 0;
      for (std::size_t i = 0; i < ext; ++i) len = (len << 8) | static_cast<std::uint8_t>(in_[2 + i]);
      at += ext;
    }
    if (in_.size() < at + len) return std::nullopt;
    Frame f{static_cast<std::uint8_t>(in_[0]) & 0x0F, in_.substr(at, len), false};
    REQUIRE((static_cast<std::uint8_t>(in_[0]) & 0xF0) == 0x80);  // final, no RSV bits
    in_.erase(0, at + len);
    return f;
  }

  int fd_;
  std::string in_;
  bool ended_ = false;
};

// A client frame: masked (with a fixed key), the header's first byte as given.
std::string frame(std::uint8_t first, std::string_view payload, bool masked = true) {
  std::string out(1, static_cast<char>(first));
  const auto m = masked ? 0x80 : 0;
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(m | static_cast<int>(payload.size())));
  } else {
    out.push_back(static_cast<char>(m | 126));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size() & 0xFF));
  }
  const char key[4] = {'\x0f', '\x1e', '\x2d', '\x3c'};
  if (masked) out.append(key, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) out.push_back(masked ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i]);
  return out;
}

std::uint16_t close_code(const Frame& f) {
  REQUIRE(f.opcode == 8);
  REQUIRE(f.payload.size() >= 2);
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(f.payload[0]) << 8) | static_cast<std::uint8_t>(f.payload[1]));
}

// The relay's answer to a frame it could not use: an error frame.
bool is_error(const Frame& f, std::string_view code) {
  return f.opcode == 1 && f.payload.find("\"error\"") != std::string::npos &&
         f.payload.find(fmt::format("\"{}\"", code)) != std::string::npos;
}

}  // namespace

TEST_CASE("websocket: the handshake answers RFC 6455's key, and refuses another version or a bad key",
          "[e2e][ws]") {
  Relay r;
  {
    RawWs ws(r.daemon.relay_port());
    const auto head = ws.upgrade();
    CHECK_THAT(head, Catch::StartsWith("HTTP/1.1 101 Switching Protocols\r\n"));
    CHECK_THAT(head, Catch::Contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    CHECK_THAT(head, Catch::Contains("Upgrade: websocket\r\n"));
  }
  {
    RawWs ws(r.daemon.relay_port());
    const auto head = ws.upgrade("dGhlIHNhbXBsZSBub25jZQ==", "8");
    CHECK_THAT(head, Catch::StartsWith("HTTP/1.1 426 "));
    CHECK_THAT(head, Catch::Contains("Sec-WebSocket-Version: 13\r\n"));
  }
  {
    RawWs ws(r.daemon.relay_port());
    CHECK_THAT(ws.upgrade("not-a-key"), Catch::StartsWith("HTTP/1.1 400 "));
  }
}

TEST_CASE("websocket: frames cut anywhere or fragmented arrive whole, and pings are answered between them",
          "[e2e][ws]") {
  Relay r;
  RawWs ws(r.daemon.relay_port());
  REQUIRE_THAT(ws.upgrade(), Catch::StartsWith("HTTP/1.1 101"));
  // One byte per write: the relay reads it as one frame.
  ws.drip(frame(0x81, R"({"type":"teleport"})"));
  CHECK(is_error(ws.read(), "unknown_type"));
  // Two frames in one write, then a fragmented one with a ping between its
  // pieces: the pong comes first, with the ping's payload.
  ws.write(frame(0x81, R"({"type":"teleport"})") + frame(0x89, "tik"));
  CHECK(is_error(ws.read(), "unknown_type"));
  const auto pong = ws.read();
  CHECK(pong.opcode == 10);
  CHECK(pong.payload == "tik");
  ws.write(frame(0x01, R"({"type":)") + frame(0x89, "tok") + frame(0x80, R"("teleport"})"));
  CHECK(ws.read().payload == "tok");
  CHECK(is_error(ws.read(), "unknown_type"));
  // A binary message is refused with an error, and the connection stays.
  ws.write(frame(0x82, "\x01\x02"));
  CHECK(is_error(ws.read(), "bad_request"));
  // The client closes: the relay answers with the same code, then ends.
  ws.write(frame(0x88, "\x0f\xa0" "bye"));  // 4000
  CHECK(close_code(ws.read()) == 4000);
  const auto end = ws.read();
  CHECK(end.opcode == -1);
  CHECK(end.ended);
}

TEST_CASE("websocket: what breaks the protocol closes with its code, and the relay goes on", "[e2e][ws]") {
  Relay r("[relay]\nmax_frame_bytes = 1024\n");
  struct Case {
    std::string name, bytes;
    std::uint16_t code;
  };
  const std::vector<Case> cases = {
      {"unmasked", frame(0x81, "{}", false), 1002},
      {"reserved opcode", frame(0x83, "{}"), 1002},
      {"RSV1 set", frame(0xC1, "{}"), 1002},
      {"fragmented ping", frame(0x09, "x"), 1002},
      {"continuation of nothing", frame(0x80, "{}"), 1002},
      {"close code 1005", frame(0x88, "\x03\xed"), 1002},
      {"text not UTF-8", frame(0x81, "\xc3\x28"), 1007},
      {"over max_frame_bytes in fragments", frame(0x01, std::string(600, ' ')) + frame(0x80, std::string(600, ' ')), 1009},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    RawWs ws(r.daemon.relay_port());
    REQUIRE_THAT(ws.upgrade(), Catch::StartsWith("HTTP/1.1 101"));
    ws.write(c.bytes);
    CHECK(close_code(ws.read()) == c.code);
    CHECK(ws.read().ended);
  }
  RawWs ws(r.daemon.relay_port());
  REQUIRE_THAT(ws.upgrade(), Catch::StartsWith("HTTP/1.1 101"));
  ws.write(frame(0x81, "{}"));
  CHECK(is_error(ws.read(), "bad_request"));
}

TEST_CASE("websocket: relay.idle_timeout pings a quiet client and closes one that does not answer", "[e2e][ws]") {
  Relay r("[relay]\nidle_timeout = \"800ms\"\n");
  // One that answers its pings stays, well past the timeout: three pings,
  // each sent once the client had been quiet for about half of it.
  RawWs answering(r.daemon.relay_port());
  REQUIRE_THAT(answering.upgrade(), Catch::StartsWith("HTTP/1.1 101"));
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    const auto ping = answering.read(std::chrono::seconds(5));
    REQUIRE(ping.opcode == 9);
    answering.write(frame(0x8A, ping.payload));
  }
  CHECK(std::chrono::steady_clock::now() - start > std::chrono::milliseconds(800));
  answering.write(frame(0x81, R"({"type":"teleport"})"));
  CHECK(is_error(answering.read(), "unknown_type"));
  // One that does not answer is pinged, then let go.
  RawWs silent(r.daemon.relay_port());
  REQUIRE_THAT(silent.upgrade(), Catch::StartsWith("HTTP/1.1 101"));
  CHECK(silent.read(std::chrono::seconds(5)).opcode == 9);
  const auto end = silent.read(std::chrono::seconds(5));
  CHECK(end.opcode == -1);
  CHECK(end.ended);
}
