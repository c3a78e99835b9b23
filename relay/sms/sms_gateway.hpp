#pragma once
#include "crypto/key_arena.hpp"
#include "proto/error_code.hpp"
#include "proto/wipe.hpp"

#include <functional>
#include <cstdint>
#include <memory>
#include <string>

namespace tirai::relay {

// One SMS for the gateway to send to a client.
struct OutboundSms {
  std::string from;                          // the proxy number
  std::shared_ptr<const crypto::ArenaText> to;  // the client's real number
  std::string text;                          // UTF-8
  std::string session;                       // the live session it belongs to; "" for relay notices
  std::int64_t client = 0;                   // the client's row id (0: not a client), for erasure
  // Called on the relay thread once the gateway accepted it (Kannel's 2xx).
  std::function<void()> accepted;
};

// Where the SMS capability sends SMS. The real one queues for Kannel's
// sendsms interface and retries until Kannel accepts; tests use a fake.
class SmsGateway {
 public:
  virtual ~SmsGateway() = default;
  virtual void send(OutboundSms sms) = 0;
  // Forgets everything still queued for `session` (teardown): nothing of a
  // session is sent after it.
  virtual void drop_session(const std::string& session) = 0;
  // Forgets everything still queued for client `client` (erasure), notices
  // included, and with it the number it held: nothing reaches an erased client.
  virtual void drop_client(std::int64_t client) = 0;
};

// A mobile-originated SMS as the gateway listener decoded it (text in UTF-8,
// numbers as the gateway sent them).
struct InboundSms {
  proto::WipedString from;  // the client's number: wiped wherever a copy goes
  std::string to;
  std::string text;
  std::string gateway_id;  // Kannel's message id (%I), when the get-url carries it: retries are stored once
};

// What became of an inbound SMS. The gateway listener answers 2xx only once
// the message is stored (or deliberately not delivered); anything else
// makes Kannel retry.
enum class InboundOutcome {
  stored,
  ended,           // a stop word: the session is ending
  out_of_session,  // no live session for this sender and number: not delivered
  not_delivered,   // refused by the session's policy (`refused` says which)
  sms_disabled,
  invalid_number,
  unknown_proxy_number,
  invalid_text,
  empty_text,
  too_large,
  rate_limited,
  internal,
};

struct InboundResult {
  InboundOutcome outcome{};
  std::string message;
  proto::ErrorCode refused{};  // for not_delivered
  // The result's name on the wire ("stored", "out_of_session", an error code).
  std::string_view code() const;
};

}  // namespace tirai::relay
