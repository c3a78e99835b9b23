#include "relay/messaging/messaging.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace tirai::relay {

using proto::ErrorCode;
using proto::Role;

namespace {
Role other(Role r) { return r == Role::talent ? Role::client : Role::talent; }
}  // namespace

Messaging::Messaging(SessionCore& core, const Policy& policy) : core_(core), policy_(policy) {}

void Messaging::booked(LiveSession& s, bool) { traffic_[s.rec.id].reserved = s.rec.message_count; }

void Messaging::closed(LiveSession& s) { traffic_.erase(s.rec.id); }

void Messaging::attached(Peer& p, const std::vector<std::string>& sessions) { replay(p, sessions); }

std::optional<Messaging::Refusal> Messaging::admit(LiveSession& s, Role sender, std::string& text, bool& redacted,
                                                   UnixMs now) {
  auto& t = traffic_[s.rec.id];
  const auto side = static_cast<std::size_t>(sender);
  redacted = false;
  if (std::find(s.rec.channels.begin(), s.rec.channels.end(), "chat") == s.rec.channels.end())
    return Refusal{ErrorCode::not_allowed, "this session's package is voice only"};
  if (sender == Role::talent && s.rec.client_first && !s.rec.client_contacted)
    return Refusal{ErrorCode::not_allowed, "in this package the client makes the first contact"};
  if (s.rec.max_messages && t.reserved >= *s.rec.max_messages)
    return Refusal{ErrorCode::quota_exhausted, "the package's message quota is used up"};
  if (policy_.messages_per_minute > 0 && !t.send_bucket[side].take(policy_.messages_per_minute, now))
    return Refusal{ErrorCode::rate_limited, "too many messages; wait a moment and send again"};
  if (policy_.contact_guard != ContactGuard::off) {
    const auto spans = scanner_.scan(text, t.carried_digits[side]);
    if (!spans.empty()) {
      if (policy_.contact_guard == ContactGuard::block) {
        t.carried_digits[side] = 0;
        return Refusal{ErrorCode::contact_details_blocked,
                       "contact details are not allowed here; the message was not sent"};
      }
      text = ContactScanner::redact(text, spans);
      redacted = true;
    }
    t.carried_digits[side] = redacted ? 0 : ContactScanner::trailing_digits(text);
  }
  return std::nullopt;
}

void Messaging::append(LiveSession& s, std::shared_ptr<Appending> a) {
  ++traffic_[s.rec.id].reserved;
  // The job's pointer stays good: a runner keeps a job's done, which owns
  // `a`, until the job has run (StoreRunner).
  Appending* op = a.get();
  core_.submit(
      [op](store::Store& st) {
        op->result = st.append(op->session, op->sender, op->send_id, op->text, op->now, op->redacted);
      },
      [this, a = std::move(a)](std::exception_ptr e) {
        LiveSession* s = core_.find(a->session);
        if (s && (e || !a->result || a->result->duplicate)) --traffic_[a->session].reserved;
        a->then(s, e, *a);
      });
}

void Messaging::on_send(Peer& p, proto::Send&& send) {
  LiveSession* s = core_.session_for(p, send.session);
  if (!s) return core_.reply_error(p, ErrorCode::not_in_session, "no such session", send.id);
  const Role sender = p.role;
  bool redacted = false;
  const UnixMs now = core_.clock().now();
  if (auto refusal = admit(*s, sender, send.text, redacted, now))
    return core_.reply_error(p, refusal->first, refusal->second, send.id);
  auto a = std::make_shared<Appending>();
  a->session = std::move(send.session);
  a->send_id = std::move(send.id);
  a->text = std::move(send.text);
  a->sender = sender;
  a->redacted = redacted;
  a->now = now;
  a->then = [this, pid = p.id](LiveSession* s, std::exception_ptr e, const Appending& a) {
    Peer* peer = core_.find_peer(pid);
    if (e) {
      if (peer) core_.reply_error(*peer, ErrorCode::internal, "the message could not be stored", a.send_id);
      return;
    }
    if (!a.result) {
      if (peer) core_.reply_error(*peer, ErrorCode::not_in_session, "no such session", a.send_id);
      return;
    }
    const auto& r = *a.result;
    const bool redacted = a.redacted && !r.duplicate;
    // To a client reached offline, `accepted` means the way there accepted it.
    const bool offline = s && !r.duplicate && a.sender == Role::talent && !s->client && offline_ && offline_->reaches(*s);
    if (offline) {
      offline_->deliver(*s, r.seq, a.text, [this, pid, id = a.send_id, session = a.session, seq = r.seq, redacted] {
        if (Peer* peer = core_.find_peer(pid)) peer->deliver(proto::accepted_frame(id, session, seq, redacted));
      });
    } else if (peer) {
      frame_.clear();
      proto::append_accepted_frame(frame_, a.send_id, a.session, r.seq, redacted);
      peer->deliver(frame_);
    }
    if (r.duplicate || !s) return;
    relay_stored(*s, a.sender, r, a.text, a.redacted, offline);
  };
  append(*s, std::move(a));
}

void Messaging::relay_stored(LiveSession& s, Role sender, const store::AppendResult& r, const std::string& text,
                             bool redacted, bool sent_offline) {
  core_.metrics().messages_relayed->Increment();
  ++s.rec.message_count;
  if (sender == Role::client) core_.client_contacted(s);
  core_.activity(s, r.sent_at);
  Peer* to = core_.peer_for(s, other(sender));
  if (!sent_offline && to && !to->replay_pending) {
    const std::string& from = sender == Role::talent ? s.rec.talent_alias : s.rec.client_alias;
    frame_.clear();
    proto::append_message_frame(frame_, s.rec.id, r.seq, from, text, r.sent_at, redacted);
    to->deliver(frame_);
  }
  if (s.rec.max_messages) {
    const auto max = *s.rec.max_messages;
    const auto notice_at = (max * 9 + 9) / 10;  // 90%, rounded up
    if (s.rec.message_count == notice_at && notice_at < max)
      core_.notify_both(s, proto::quota_notice_frame(s.rec.id, s.rec.state, max - s.rec.message_count));
    // Last: closing may tear the session down (and `s` with it).
    if (s.rec.message_count >= max && s.rec.state != proto::SessionState::closing)
      core_.begin_close(s, "quota_exhausted");
  }
}

void Messaging::on_ack(Peer& p, const proto::Ack& a) {
  if (!core_.session_for(p, a.session)) return core_.reply_error(p, ErrorCode::not_in_session, "no such session");
  core_.submit([session = a.session, receiver = p.role, seq = a.seq](store::Store& st) { st.ack(session, receiver, seq); });
}

void Messaging::read_pending(std::vector<std::string> sessions, Role receiver,
                             std::function<void(std::exception_ptr, std::vector<store::StoredMessage>&)> done) {
  auto found = std::make_shared<std::vector<store::StoredMessage>>();
  core_.submit(
      [sessions = std::move(sessions), receiver, found](store::Store& st) {
        found->clear();  // a job may run twice (StoreWorker)
        for (const auto& id : sessions) {
          auto m = st.pending(id, receiver);
          std::move(m.begin(), m.end(), std::back_inserter(*found));
        }
      },
      [found, done = std::move(done)](std::exception_ptr e) { done(e, *found); });
}

// Anything committed before the replay's read is in it, anything after
// comes live, in order.
void Messaging::replay(Peer& p, std::vector<std::string> sessions) {
  if (sessions.empty()) return;
  p.replay_pending = true;
  read_pending(std::move(sessions), p.role, [this, pid = p.id](std::exception_ptr e, auto& found) {
    Peer* peer = core_.find_peer(pid);
    if (!peer) return;
    peer->replay_pending = false;
    if (e) {
      spdlog::error("[session] replay failed; closing the connection so the peer retries");
      peer->close(CloseCode::try_again_later, "internal error");
      return;
    }
    for (const auto& m : found) {
      const LiveSession* s = core_.find(m.session);
      if (!s) continue;
      const std::string& from = m.sender == Role::talent ? s->rec.talent_alias : s->rec.client_alias;
      peer->deliver(proto::message_frame(m.session, m.seq, from, m.text, m.sent_at, m.redacted));
    }
  });
}

}  // namespace tirai::relay
