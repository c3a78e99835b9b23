#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proto/timefmt.hpp"

namespace tirai::relay {

class Peer;
struct LiveSession;

// What the session core tells the capabilities beside it (messaging, SMS,
// and calls next), in the order things happen, on the relay thread. Each
// capability keeps its own state per session and drops it on closed(); none
// is called by name from the core. The events name sessions, peers and
// client rows of this process only; a listener must not keep the references
// past the call.
class SessionEvents {
 public:
  virtual ~SessionEvents() = default;
  // The session is live here: just booked, or loaded at start-up (`restored`).
  virtual void booked(LiveSession&, bool /*restored*/) {}
  // Its first message was stored (open → active).
  virtual void first_message(LiveSession&) {}
  // Its time is nearly up (sessions.warn_before): `seconds` are left.
  virtual void expiring(LiveSession&, std::int64_t /*seconds*/) {}
  // It is ending (rec.close_reason says why); farewells may still go out.
  // Not announced when the session ends because its client was erased.
  virtual void closing(LiveSession&) {}
  // Torn down: nothing of it may reach either side any more. The session is
  // gone when this returns.
  virtual void closed(LiveSession&) {}
  // A peer said hello and was welcomed to `sessions` (its role and name set).
  virtual void attached(Peer&, const std::vector<std::string>& /*sessions*/) {}
  // A peer that had said hello is gone (its connection closed or replaced);
  // its role and name are still set.
  virtual void detached(Peer&) {}
  // Everything stored about client row `client` was erased.
  virtual void client_erased(std::int64_t /*client*/) {}
  // The core's periodic purge: drop what is kept only for a while.
  virtual void purge(proto::UnixMs /*now*/) {}
};

// A capability with deadlines of its own (a delayed answer, a retry).
class Timed {
 public:
  virtual ~Timed() = default;
  // Does what is due at `now`.
  virtual void tick(proto::UnixMs now) = 0;
  virtual std::optional<proto::UnixMs> next_deadline() const = 0;
  // The system clock was stepped by `delta` (SessionCore::tick): what is
  // timed from "now" moves with it, so that a step neither cuts nor
  // stretches it.
  virtual void clock_stepped(proto::UnixMs delta) { (void)delta; }
};

}  // namespace tirai::relay
