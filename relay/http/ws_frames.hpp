#pragma once
// The relay's side of WebSocket (RFC 6455) after the HTTP front's upgrade:
// reading a client's frames, the opening handshake's key, and the server's
// frame headers. The relay frames its own messages on the raw socket, so an
// idle connection holds no read buffer and no stream state of a library's
// (finding 38 of docs/performance.md): what a Reader keeps between reads is a
// few bytes, and a buffer only while a frame or a fragmented message is
// incomplete.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tirai::relay::ws {

enum class Opcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

// The close codes a reader fails with (RFC 6455 §7.4.1).
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t bad_payload = 1007;  // a text that is not UTF-8
inline constexpr std::uint16_t too_big = 1009;

// A message or a control frame a client sent, unmasked. `payload` is
// writable so that a secret can be wiped where it lies; it stays valid until
// the reader's next call.
struct Input {
  enum class Kind { text, binary, ping, pong, close } kind = Kind::text;
  std::span<char> payload;  // close: the reason
  std::uint16_t code = 0;   // close: the code sent; 0 when none was
};

// What Reader::next found.
struct Step {
  enum class Kind { more, input, fail } kind = Kind::more;
  Input input;              // kind == input
  std::uint16_t fail = 0;   // kind == fail: the close code to answer with
};

// Reads the frames of one client connection (masked, as RFC 6455 §5.3 has a
// client send them), whatever the reads cut them into. Frames that arrived
// whole are unmasked in the caller's buffer and handed over where they lie;
// an incomplete frame's bytes, and a fragmented message's, are kept (and
// wiped when let go: they may hold a secret). Messages longer than
// `max_message` bytes fail with 1009 as soon as a frame header says so.
class Reader {
 public:
  explicit Reader(std::size_t max_message);
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  ~Reader();

  // Takes bytes from the front of `bytes` until a message or a control frame
  // is complete, and returns it; `more` once `bytes` is used up. After a
  // failure every call fails again.
  Step next(std::span<char>& bytes);

  // Bytes kept for an incomplete frame or message.
  std::size_t held() const;

 private:
  struct Held;  // allocated only while something is held
  Step frame(std::uint8_t op, bool fin, std::span<char> payload);
  Step failed(std::uint16_t code);
  void release();

  std::unique_ptr<Held> held_;
  std::size_t max_message_;
  std::uint16_t failed_ = 0;
  bool in_message_ = false;    // continuation frames are expected
  bool text_message_ = false;  // the message under way is text
  bool handed_held_ = false;   // the last step's payload lies in held_
};

// A server frame's header (unmasked, final) for `n` bytes of payload,
// written into `out`; returns its length (2, 4 or 10).
std::size_t frame_header(Opcode op, std::size_t n, char* out);

// A whole close frame with `code` and `reason` (cut to fit a control frame);
// code 0: an empty one, as the answer to a close that had no code.
std::string close_frame(std::uint16_t code, std::string_view reason);

// Whether `key` is a Sec-WebSocket-Key a client may send: the base64 of 16 bytes.
bool valid_key(std::string_view key);

// The Sec-WebSocket-Accept that answers `key` (RFC 6455 §4.2.2).
std::string accept_key(std::string_view key);

}  // namespace tirai::relay::ws
