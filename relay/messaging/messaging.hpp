#pragma once
#include "proto/frames.hpp"
#include "relay/core/session_core.hpp"
#include "relay/core/token_bucket.hpp"
#include "relay/messaging/contact_guard.hpp"

#include <functional>
#include <memory>
#include <unordered_map>

namespace tirai::relay {

// A way to reach a session's client who is not connected (SMS, through the
// proxy number). Messaging defines it; a capability that has such a way
// implements it.
class OfflineDelivery {
 public:
  virtual ~OfflineDelivery() = default;
  // Whether the client of `s` can be reached this way.
  virtual bool reaches(const LiveSession& s) const = 0;
  // Sends the talent's stored message `seq` of `s`; `accepted` runs once it
  // is handed over (and the body may be cleared as if acknowledged).
  virtual void deliver(LiveSession& s, std::int64_t seq, std::string text, std::function<void()> accepted) = 0;
};

// Messaging (design §5): send, the admission of a text (the package's
// quota, the policy's rate and contact guard), storing it before `accepted`,
// delivery to the other side, acks, and the replay of what a peer has not
// acknowledged when it says hello.
class Messaging final : public SessionEvents {
 public:
  using Refusal = std::pair<proto::ErrorCode, std::string_view>;

  struct Appending;
  // What follows a stored message, with the session if still live.
  using Appended = std::function<void(LiveSession*, std::exception_ptr, const Appending&)>;
  // A message on its way to the store: one allocation carries it there and
  // back (the job refers to it; the done owns it).
  struct Appending {
    std::string session;
    std::string send_id;
    std::string text;
    proto::Role sender{};
    bool redacted = false;
    UnixMs now{};
    Appended then;
    std::optional<store::AppendResult> result;  // set by the job
  };

  Messaging(SessionCore& core, const Policy& policy);
  void set_offline_delivery(OfflineDelivery& d) { offline_ = &d; }

  void on_send(Peer& p, proto::Send&& s);
  void on_ack(Peer& p, const proto::Ack& a);

  // The session's policy on a text about to be sent: quota, rate, contact
  // guard (which may redact `text`). A refusal, or nullopt when it may go.
  std::optional<Refusal> admit(LiveSession& s, proto::Role sender, std::string& text, bool& redacted, UnixMs now);
  // Stores a message; its `then` runs after the commit.
  void append(LiveSession& s, std::shared_ptr<Appending> a);
  // What follows a stored message: counts, state, delivery to the other side
  // (unless it went offline), quota notices.
  void relay_stored(LiveSession& s, proto::Role sender, const store::AppendResult& r, const std::string& text,
                    bool redacted, bool sent_offline);
  // Reads what `receiver` has not acknowledged in `sessions`, then calls
  // `done` on the relay thread (with an exception when the read failed).
  void read_pending(std::vector<std::string> sessions, proto::Role receiver,
                    std::function<void(std::exception_ptr, std::vector<store::StoredMessage>&)> done);

  void booked(LiveSession& s, bool restored) override;
  void closed(LiveSession& s) override;
  void attached(Peer& p, const std::vector<std::string>& sessions) override;

 private:
  // What messaging keeps per live session.
  struct Traffic {
    std::int64_t reserved = 0;               // messages accepted or in flight, for the quota
    TokenBucket send_bucket[2];              // per sender (talent, client), for messages_per_minute
    std::size_t carried_digits[2] = {0, 0};  // a number split across messages, per sender
  };
  // Sends every unacknowledged message to a peer that just said hello. Live
  // deliveries are held back until the replay is out.
  void replay(Peer& p, std::vector<std::string> sessions);

  SessionCore& core_;
  const Policy& policy_;
  ContactScanner scanner_;
  OfflineDelivery* offline_ = nullptr;
  std::unordered_map<std::string, Traffic> traffic_;
  std::string frame_;  // each message's frames are written here, then copied out by deliver()
};

}  // namespace tirai::relay
