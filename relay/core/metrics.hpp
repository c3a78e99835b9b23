#pragma once
#include "proto/error_code.hpp"
#include "proto/frames.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <memory>
#include <string>

namespace tirai::relay {

// The relay's metrics (design §6 /metrics). Labels are codes, states and
// reasons only: never an alias, a number or a session id.
class Metrics {
 public:
  Metrics();

  prometheus::Registry& registry() { return *registry_; }
  std::string render() const;

  void error(proto::ErrorCode c) { errors_[static_cast<std::size_t>(c)]->Increment(); }
  void session_state(proto::SessionState s, double delta) {
    if (auto* g = states_[static_cast<std::size_t>(s)]) g->Increment(delta);
  }
  void closed(std::string_view reason);
  // Connections closed at accept: "max_connections" or "per_address".
  void connections_refused(std::string_view reason);
  // SMS: inbound requests by result ("stored", "ended", "out_of_session", error codes).
  void sms_inbound(std::string_view result);
  // A neighbour service ("kannel", "coturn", "kamailio"): 1 when it answered
  // tiraid's last request, 0 when not; absent until it was first asked.
  prometheus::Gauge* neighbour_up(std::string_view neighbour);
  prometheus::Counter* neighbour_failures(std::string_view neighbour);
  // Live sessions per proxy number (the operator's own numbers, the one
  // label that is a number: never a client's).
  void proxy_sessions(const std::string& number, double delta);

  prometheus::Gauge* connections;
  prometheus::Gauge* talents_online;
  prometheus::Gauge* login_entries;
  prometheus::Counter* messages_relayed;
  prometheus::Counter* slow_peers;
  prometheus::Counter* bookings;
  prometheus::Counter* clock_steps;  // the system clock stepped; deadlines moved with it
  prometheus::Histogram* store_commit_seconds;
  prometheus::Histogram* store_batch_jobs;
  prometheus::Gauge* store_acked_uncleared;
  prometheus::Gauge* store_disk_full;  // 1 while commits fail for want of room
  prometheus::Counter* sms_out_of_session;
  prometheus::Counter* sms_out_of_session_replies;
  prometheus::Counter* sms_sent;
  prometheus::Counter* sms_send_failures;
  prometheus::Gauge* sms_queue;
  // Calls (design §11).
  void call_ended(std::string_view reason);
  prometheus::Counter* calls_started;
  prometheus::Counter* calls_answered;
  prometheus::Gauge* calls_active;
  prometheus::Counter* call_seconds;
  prometheus::Counter* call_candidates_dropped;
  prometheus::Counter* turn_allocations_cancelled;
  prometheus::Counter* turn_failures;
  // Phone calls (design §13): the seam's decisions by direction ("inbound",
  // "outbound") and result ("ring", "refused", "busy"), ended calls by reason.
  void phone_decision(std::string_view direction, std::string_view result);
  void phone_call_ended(std::string_view reason);
  prometheus::Counter* phone_call_seconds;
  prometheus::Gauge* phone_calls_active;
  prometheus::Counter* sip_failures;
  prometheus::Counter* phone_tones_played;  // the one-minute tone heard by the phone
  prometheus::Counter* phone_tones_failed;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::array<prometheus::Counter*, std::size(proto::all_error_codes)> errors_{};
  std::array<prometheus::Gauge*, 4> states_{};
  prometheus::Family<prometheus::Counter>* closed_family_;
  prometheus::Family<prometheus::Counter>* refused_family_;
  prometheus::Family<prometheus::Counter>* sms_inbound_family_;
  prometheus::Family<prometheus::Gauge>* proxy_family_;
  prometheus::Family<prometheus::Gauge>* neighbour_family_;
  prometheus::Family<prometheus::Counter>* neighbour_failures_family_;
  prometheus::Family<prometheus::Counter>* call_ended_family_;
  prometheus::Family<prometheus::Counter>* phone_decision_family_;
  prometheus::Family<prometheus::Counter>* phone_ended_family_;
};

}  // namespace tirai::relay
