#pragma once
#include "proto/frames.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace tirai::relay {

// WebSocket close codes the relay uses.
enum class CloseCode : std::uint16_t {
  normal = 1000,
  going_away = 1001,
  policy = 1008,
  too_big = 1009,
  try_again_later = 1013,
};

// One connected endpoint, as the session core sees it. Implemented by the
// WebSocket connection and by test doubles. Called on the relay thread only.
class Peer {
 public:
  virtual ~Peer() = default;
  // Queues a frame (copied: nothing is kept of `frame`). Never blocks; a
  // peer whose queue is full disconnects itself.
  virtual void deliver(std::string_view frame) = 0;
  // Sends what is queued, then closes.
  virtual void close(CloseCode code, std::string_view reason) = 0;
  // Called once hello has succeeded (authenticated is set): the connection
  // stops counting as unauthenticated and drops its hello deadline.
  virtual void logged_in() {}

  // Who this is once hello succeeded; set by the session core.
  std::uint64_t id = 0;
  bool authenticated = false;
  proto::Role role{};
  std::string name;  // talent alias, or the client's session id
  bool replay_pending = false;
  std::string address;  // the remote IP, for login rate limits
};

}  // namespace tirai::relay
