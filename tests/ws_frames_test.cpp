#include "relay/http/ws_frames.hpp"
#include "support/ws_feed.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

using namespace tirai::relay::ws;

namespace {

constexpr char mask_key[4] = {'\x12', '\x34', '\x56', '\x78'};

// A frame as a client sends it: masked, with the header's fields as given.
std::string client_frame(std::uint8_t first_byte, std::string_view payload, bool masked = true) {
  std::string out(1, static_cast<char>(first_byte));
  const char mask_bit = masked ? '\x80' : '\0';
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(mask_bit | static_cast<char>(payload.size())));
  } else if (payload.size() <= 0xFFFF) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size() & 0xFF));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((std::uint64_t{payload.size()} >> (56 - 8 * i)) & 0xFF));
  }
  if (masked) out.append(mask_key, 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    out.push_back(masked ? static_cast<char>(payload[i] ^ mask_key[i % 4]) : payload[i]);
  return out;
}
std::string text(std::string_view p) { return client_frame(0x81, p); }

// What a reader made of `bytes` fed in pieces of `piece` bytes: each input
// as "kind:payload" (close: "close:CODE:reason"), or "fail:CODE".
std::vector<std::string> read_all(Reader& r, std::string bytes, std::size_t piece) {
  std::vector<std::string> got;
  const bool all_taken = tirai::test::feed_in_pieces(r, bytes, piece, [&](const Step& step) {
    if (step.kind == Step::Kind::fail) {
      got.push_back("fail:" + std::to_string(step.fail));
      return;
    }
    const std::string payload(step.input.payload.data(), step.input.payload.size());
    switch (step.input.kind) {
      case Input::Kind::text: got.push_back("text:" + payload); break;
      case Input::Kind::binary: got.push_back("binary:" + payload); break;
      case Input::Kind::ping: got.push_back("ping:" + payload); break;
      case Input::Kind::pong: got.push_back("pong:" + payload); break;
      case Input::Kind::close: got.push_back("close:" + std::to_string(step.input.code) + ":" + payload); break;
    }
  });
  CHECK(all_taken);
  return got;
}

}  // namespace

TEST_CASE("ws frames: messages arrive whole however the reads cut them", "[relay][ws]") {
  const std::string long_text(70'000, 'k');  // a 64-bit length
  const std::string medium(300, 'm');        // a 16-bit length
  const std::string bytes = text("halo") + client_frame(0x82, std::string("\x00\x01", 2)) +
                            client_frame(0x89, "are you there") + text(medium) +
                            // A fragmented text, with a pong between its pieces.
                            client_frame(0x01, "sela") + client_frame(0x8A, "p") + client_frame(0x00, "mat ") +
                            client_frame(0x80, "pagi") + text(long_text) + client_frame(0x88, "\x03\xe8" "bye");
  const std::vector<std::string> want = {"text:halo",  std::string("binary:\x00\x01", 9), "ping:are you there",
                                         "text:" + medium, "pong:p", "text:selamat pagi", "text:" + long_text,
                                         "close:1000:bye"};
  const std::size_t piece = GENERATE(1, 2, 3, 7, 64, 1000, 1 << 20);
  INFO("piece " << piece);
  Reader r(100'000);
  CHECK(read_all(r, bytes, piece) == want);
  CHECK(r.held() == 0);
}

TEST_CASE("ws frames: what breaks the protocol fails with its close code", "[relay][ws]") {
  const auto fails = [](const std::string& bytes, std::size_t max = 1000) {
    Reader r(max);
    const auto got = read_all(r, bytes, bytes.size());
    return got.empty() ? std::string("nothing") : got.back();
  };
  CHECK(fails(client_frame(0x81, "x", false)) == "fail:1002");          // not masked
  CHECK(fails(client_frame(0xC1, "x")) == "fail:1002");                 // RSV1 without an extension
  CHECK(fails(client_frame(0x83, "x")) == "fail:1002");                 // a reserved opcode
  CHECK(fails(client_frame(0x0B, "x")) == "fail:1002");                 // a reserved control opcode
  CHECK(fails(client_frame(0x09, "x")) == "fail:1002");                 // a fragmented ping
  CHECK(fails(client_frame(0x89, std::string(126, 'p'))) == "fail:1002");  // a control frame over 125
  CHECK(fails(client_frame(0x80, "x")) == "fail:1002");                 // a continuation of nothing
  CHECK(fails(client_frame(0x01, "a") + text("b")) == "fail:1002");     // a new message inside one
  CHECK(fails(client_frame(0x88, "\x03")) == "fail:1002");              // a close with one byte
  CHECK(fails(client_frame(0x88, "\x03\xed")) == "fail:1002");          // close code 1005 may not be sent
  CHECK(fails(client_frame(0x88, "\x03\xe8\xc3\x28")) == "fail:1007");  // a close reason not UTF-8
  CHECK(fails(text("\xc3\x28")) == "fail:1007");
  // UTF-8 is checked over the whole message: a character cut between
  // fragments is fine, a broken one is not.
  CHECK(fails(client_frame(0x01, "\xc3") + client_frame(0x80, "\xa9")) == "text:\xc3\xa9");
  CHECK(fails(client_frame(0x01, "\xc3") + client_frame(0x80, "(")) == "fail:1007");
  // Lengths: the shortest form only, and at most the message limit, summed
  // over fragments.
  std::string padded = client_frame(0x81, "hi");
  padded.replace(1, 1, std::string("\xFE\x00\x02", 3));
  CHECK(fails(padded) == "fail:1002");
  CHECK(fails(text(std::string(1001, 'x'))) == "fail:1009");
  CHECK(fails(text(std::string(1000, 'x'))) == "text:" + std::string(1000, 'x'));
  CHECK(fails(client_frame(0x01, std::string(600, 'x')) + client_frame(0x80, std::string(401, 'x'))) == "fail:1009");
  // After a failure, every call fails again.
  Reader r(10);
  std::string bytes = text("long enough");
  std::span<char> span(bytes);
  CHECK(r.next(span).fail == too_big);
  std::string more = text("ok");
  std::span<char> again(more);
  CHECK(r.next(again).kind == Step::Kind::fail);
}

TEST_CASE("ws frames: a frame too long fails on its header, before its payload is held", "[relay][ws]") {
  Reader r(1000);
  std::string header = client_frame(0x81, std::string(5000, 'x')).substr(0, 8);
  std::span<char> head(header);
  CHECK(r.next(head).fail == too_big);
  CHECK(r.held() == 0);
}

TEST_CASE("ws frames: an incomplete frame is held, and the caller's copy wiped", "[relay][ws]") {
  Reader r(1000);
  std::string bytes = text(R"({"type":"hello","secret":"hunter2"})");
  const auto cut = bytes.size() - 5;
  std::string first = bytes.substr(0, cut), rest = bytes.substr(cut);
  std::span<char> a(first);
  CHECK(r.next(a).kind == Step::Kind::more);
  CHECK(r.held() == cut);
  CHECK(first == std::string(cut, '\0'));
  std::span<char> b(rest);
  const auto step = r.next(b);
  REQUIRE(step.kind == Step::Kind::input);
  CHECK(std::string(step.input.payload.data(), step.input.payload.size()) == R"({"type":"hello","secret":"hunter2"})");
  std::span<char> none;
  CHECK(r.next(none).kind == Step::Kind::more);
  CHECK(r.held() == 0);
}

TEST_CASE("ws frames: the server's frame headers, close frames and handshake key", "[relay][ws]") {
  char h[10];
  CHECK(std::string(h, frame_header(Opcode::text, 5, h)) == "\x81\x05");
  CHECK(std::string(h, frame_header(Opcode::ping, 0, h)) == std::string("\x89\x00", 2));
  CHECK(std::string(h, frame_header(Opcode::text, 300, h)) == "\x81\x7e\x01\x2c");
  CHECK(std::string(h, frame_header(Opcode::text, 70'000, h)) == std::string("\x81\x7f\0\0\0\0\0\x01\x11\x70", 10));
  CHECK(close_frame(1008, "too many bad frames") == "\x88\x15\x03\xf0" "too many bad frames");
  CHECK(close_frame(0, "ignored") == std::string("\x88\x00", 2));
  // A reason cut to 123 bytes, not inside a character.
  const std::string reason = std::string(122, 'a') + "\xc3\xa9";
  CHECK(close_frame(1000, reason) == "\x88\x7c\x03\xe8" + std::string(122, 'a'));
  // RFC 6455 §1.3's example.
  CHECK(accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  CHECK(valid_key("dGhlIHNhbXBsZSBub25jZQ=="));
  CHECK_FALSE(valid_key("dGhlIHNhbXBsZSBub25jZQ="));
  CHECK_FALSE(valid_key("dGhlIHNhbXBsZSBub25j*Q=="));
  CHECK_FALSE(valid_key(""));
}

TEST_CASE("ws frames: a fault in a header shows as soon as its bytes are in, however the reads cut it",
          "[relay][ws]") {
  // A 64-bit length with its top bit set (found by tests/fuzz/ws_frames.cpp:
  // in reads of 3 bytes, the fault waited for a read after the header's).
  std::string header("\x81\xFF\x80\0\0\0\0\0\0\x10", 10);
  const std::size_t piece = GENERATE(1, 2, 3, 4, 10);
  INFO("piece " << piece);
  Reader r(1000);
  CHECK(read_all(r, header, piece) == std::vector<std::string>{"fail:1002"});
}

TEST_CASE("ws frames: a frame refused where it lies is wiped there", "[relay][ws]") {
  // A hello whose text is not UTF-8: refused with 1007, and its unmasked
  // bytes (a secret among them) do not stay in the caller's buffer.
  std::string bytes = text("{\"type\":\"hello\",\"secret\":\"hunter2\xc3\x28\"}");
  std::span<char> span(bytes);
  Reader r(1000);
  CHECK(r.next(span).fail == bad_payload);
  CHECK(bytes.find("hunter2") == std::string::npos);
  CHECK(bytes.substr(6) == std::string(bytes.size() - 6, '\0'));
}
