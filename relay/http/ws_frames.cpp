#include "relay/http/ws_frames.hpp"

#include "proto/utf8.hpp"
#include "proto/wipe.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

namespace tirai::relay::ws {

struct Reader::Held {
  std::string frame;    // the bytes of an incomplete frame, as sent (masked)
  std::string message;  // the payloads of a fragmented message so far
};

namespace {

// A frame's header as far as it was read.
struct Header {
  std::size_t size = 2;      // the header's length with the mask key, once known
  std::uint64_t length = 0;  // the payload's
  std::uint8_t op = 0;
  bool fin = false;
};

enum class Parsed { incomplete, ok, fail };

bool is_control(std::uint8_t op) { return (op & 0x8) != 0; }

// Reads a client frame's header from p[0, n), checking what the bytes at hand
// allow, so that a frame too long for the message fails before its payload
// comes. `in_message`: continuation frames are expected; `room`: the bytes a
// data frame may still bring.
Parsed parse(const char* p, std::size_t n, bool in_message, std::size_t room, Header& h, std::uint16_t& code) {
  code = protocol_error;
  if (n < 1) return Parsed::incomplete;
  const auto b0 = static_cast<std::uint8_t>(p[0]);
  h.fin = (b0 & 0x80) != 0;
  h.op = b0 & 0x0F;
  if ((b0 & 0x70) != 0) return Parsed::fail;  // no extension was agreed
  switch (static_cast<Opcode>(h.op)) {
    case Opcode::continuation:
      if (!in_message) return Parsed::fail;
      break;
    case Opcode::text:
    case Opcode::binary:
      if (in_message) return Parsed::fail;
      break;
    case Opcode::close:
    case Opcode::ping:
    case Opcode::pong:
      if (!h.fin) return Parsed::fail;
      break;
    default:
      return Parsed::fail;
  }
  if (n < 2) return Parsed::incomplete;
  const auto b1 = static_cast<std::uint8_t>(p[1]);
  if ((b1 & 0x80) == 0) return Parsed::fail;  // a client masks every frame
  const std::uint8_t len7 = b1 & 0x7F;
  if (is_control(h.op) && len7 > 125) return Parsed::fail;
  const std::size_t extended = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  h.size = 2 + extended + 4;
  if (n < 2 + extended) return Parsed::incomplete;
  if (extended == 0) {
    h.length = len7;
  } else {
    h.length = 0;
    for (std::size_t i = 0; i < extended; ++i) h.length = (h.length << 8) | static_cast<std::uint8_t>(p[2 + i]);
    // The shortest form only, and never the top bit (RFC 6455 §5.2).
    if (extended == 2 && h.length < 126) return Parsed::fail;
    if (extended == 8 && (h.length < 0x10000 || (h.length >> 63) != 0)) return Parsed::fail;
  }
  if (!is_control(h.op) && h.length > room) {
    code = too_big;
    return Parsed::fail;
  }
  return n < h.size ? Parsed::incomplete : Parsed::ok;
}

void unmask(char* p, std::size_t n, const char* key) {
  unsigned char k[4];
  std::memcpy(k, key, 4);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<char>(static_cast<unsigned char>(p[i]) ^ k[i & 3]);
}

// The codes a peer may send in a close frame (RFC 6455 §7.4; 1012–1014 as
// IANA has them since).
bool valid_close_code(std::uint16_t c) {
  return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

std::string_view view(std::span<const char> s) { return {s.data(), s.size()}; }

void drop(std::string& s) {
  proto::wipe(s);
  std::string().swap(s);
}

// Appends to a buffer that may hold a secret: when it must grow, the old
// block is wiped before it is freed.
void append_wiping(std::string& s, const char* p, std::size_t n) {
  if (s.size() + n > s.capacity()) {
    std::string grown;
    grown.reserve(std::max(s.size() + n, 2 * s.capacity()));
    grown.append(s);
    drop(s);
    s.swap(grown);
  }
  s.append(p, n);
}

}  // namespace

Reader::Reader(std::size_t max_message) : max_message_(max_message) {}

Reader::~Reader() {
  if (held_) {
    drop(held_->frame);
    drop(held_->message);
  }
}

std::size_t Reader::held() const { return held_ ? held_->frame.size() + held_->message.size() : 0; }

// The payload handed out last lay in held_: what is done with is wiped.
void Reader::release() {
  handed_held_ = false;
  if (!held_) return;
  drop(held_->frame);
  if (!in_message_) drop(held_->message);
  if (held_->message.empty()) held_.reset();
}

Step Reader::failed(std::uint16_t code) {
  failed_ = code;
  in_message_ = false;
  release();
  return Step{Step::Kind::fail, {}, code};
}

Step Reader::frame(std::uint8_t op, bool fin, std::span<char> payload) {
  Step step{Step::Kind::input, {}, 0};
  switch (static_cast<Opcode>(op)) {
    case Opcode::close: {
      step.input.kind = Input::Kind::close;
      if (payload.size() == 1) return failed(protocol_error);
      if (payload.size() >= 2) {
        step.input.code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                                     static_cast<std::uint8_t>(payload[1]));
        if (!valid_close_code(step.input.code)) return failed(protocol_error);
        payload = payload.subspan(2);
        if (!proto::valid_utf8(view(payload))) return failed(bad_payload);
      }
      step.input.payload = payload;
      return step;
    }
    case Opcode::ping:
    case Opcode::pong:
      step.input.kind = op == static_cast<std::uint8_t>(Opcode::ping) ? Input::Kind::ping : Input::Kind::pong;
      step.input.payload = payload;
      return step;
    default:
      break;
  }
  if (op != static_cast<std::uint8_t>(Opcode::continuation)) text_message_ = op == static_cast<std::uint8_t>(Opcode::text);
  if (!in_message_ && fin) {
    if (text_message_ && !proto::valid_utf8(view(payload))) return failed(bad_payload);
    step.input.kind = text_message_ ? Input::Kind::text : Input::Kind::binary;
    step.input.payload = payload;
    return step;
  }
  if (!held_) held_ = std::make_unique<Held>();
  append_wiping(held_->message, payload.data(), payload.size());
  proto::wipe(payload.data(), payload.size());  // its copy is the one kept
  if (!fin) {
    in_message_ = true;
    return Step{};
  }
  in_message_ = false;
  handed_held_ = true;
  auto& m = held_->message;
  if (text_message_ && !proto::valid_utf8(m)) return failed(bad_payload);
  step.input.kind = text_message_ ? Input::Kind::text : Input::Kind::binary;
  step.input.payload = std::span<char>(m.data(), m.size());
  return step;
}

Step Reader::next(std::span<char>& bytes) {
  if (failed_) return Step{Step::Kind::fail, {}, failed_};
  if (handed_held_) release();
  for (;;) {
    const std::size_t room = max_message_ - (in_message_ && held_ ? held_->message.size() : 0);
    Header h;
    std::uint16_t code = 0;
    // An incomplete frame kept from before takes what it lacks first.
    if (held_ && !held_->frame.empty()) {
      auto& f = held_->frame;
      const auto parsed = parse(f.data(), f.size(), in_message_, room, h, code);
      if (parsed == Parsed::fail) return failed(code);
      const std::size_t want = parsed == Parsed::ok ? h.size + h.length : h.size;
      const std::size_t take = std::min(want - f.size(), bytes.size());
      append_wiping(f, bytes.data(), take);
      proto::wipe(bytes.data(), take);
      bytes = bytes.subspan(take);
      // More of a header is checked again at once: a fault shows as soon
      // as its bytes are in (found by tests/fuzz/ws_frames.cpp).
      if (parsed == Parsed::incomplete) {
        if (take == 0) return Step{};
        continue;
      }
      if (f.size() < want) return Step{};  // all of bytes was taken
      const std::span<char> payload(f.data() + h.size, h.length);
      unmask(payload.data(), payload.size(), f.data() + h.size - 4);
      auto step = frame(h.op, h.fin, payload);  // on a failure, held_ is wiped
      if (step.kind != Step::Kind::more) {
        if (step.kind == Step::Kind::input) handed_held_ = true;
        return step;
      }
      drop(f);
      continue;
    }
    if (bytes.empty()) return Step{};
    const auto parsed = parse(bytes.data(), bytes.size(), in_message_, room, h, code);
    if (parsed == Parsed::fail) return failed(code);
    if (parsed == Parsed::incomplete || bytes.size() - h.size < h.length) {
      if (!held_) held_ = std::make_unique<Held>();
      if (parsed == Parsed::ok) held_->frame.reserve(h.size + h.length);
      held_->frame.assign(bytes.data(), bytes.size());
      proto::wipe(bytes.data(), bytes.size());
      bytes = {};
      return Step{};
    }
    const std::span<char> payload(bytes.data() + h.size, h.length);
    unmask(payload.data(), payload.size(), bytes.data() + h.size - 4);
    bytes = bytes.subspan(h.size + h.length);
    auto step = frame(h.op, h.fin, payload);
    // A frame refused where it lies is wiped there: it may be a hello.
    if (step.kind == Step::Kind::fail) proto::wipe(payload.data(), payload.size());
    if (step.kind != Step::Kind::more) return step;
  }
}

std::size_t frame_header(Opcode op, std::size_t n, char* out) {
  out[0] = static_cast<char>(0x80 | static_cast<std::uint8_t>(op));
  if (n < 126) {
    out[1] = static_cast<char>(n);
    return 2;
  }
  if (n <= 0xFFFF) {
    out[1] = static_cast<char>(126);
    out[2] = static_cast<char>(n >> 8);
    out[3] = static_cast<char>(n & 0xFF);
    return 4;
  }
  out[1] = static_cast<char>(127);
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<char>((static_cast<std::uint64_t>(n) >> (56 - 8 * i)) & 0xFF);
  return 10;
}

std::string close_frame(std::uint16_t code, std::string_view reason) {
  // A control frame carries at most 125 bytes: the code and 123 of reason,
  // cut where a character begins.
  std::size_t keep = std::min<std::size_t>(reason.size(), 123);
  while (keep > 0 && keep < reason.size() && (static_cast<unsigned char>(reason[keep]) & 0xC0) == 0x80) --keep;
  std::string out(2, '\0');
  out[0] = static_cast<char>(0x80 | static_cast<std::uint8_t>(Opcode::close));
  if (code == 0) return out;  // no code, no reason
  out[1] = static_cast<char>(2 + keep);
  out.push_back(static_cast<char>(code >> 8));
  out.push_back(static_cast<char>(code & 0xFF));
  out.append(reason.substr(0, keep));
  return out;
}

bool valid_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  return std::all_of(key.begin(), key.begin() + 22, [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
  });
}

std::string accept_key(std::string_view key) {
  constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string joined;
  joined.reserve(key.size() + guid.size());
  joined.append(key).append(guid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(joined.data()), joined.size(), digest);
  unsigned char encoded[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  const int n = EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(n));
}

}  // namespace tirai::relay::ws
