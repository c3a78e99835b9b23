#include "relay/core/metrics.hpp"

#include <prometheus/text_serializer.h>

namespace tirai::relay {

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  using namespace prometheus;
  connections = &BuildGauge().Name("tirai_connections").Help("Open WebSocket connections").Register(*registry_).Add({});
  talents_online =
      &BuildGauge().Name("tirai_talents_online").Help("Talents with a live connection").Register(*registry_).Add({});
  login_entries = &BuildGauge()
                       .Name("tirai_login_limiter_entries")
                       .Help("Source addresses and aliases the login limits remember (failures only, bounded)")
                       .Register(*registry_)
                       .Add({});
  messages_relayed = &BuildCounter()
                          .Name("tirai_messages_relayed_total")
                          .Help("Messages accepted and stored for delivery")
                          .Register(*registry_)
                          .Add({});
  slow_peers = &BuildCounter()
                    .Name("tirai_slow_peers_total")
                    .Help("Connections let go (1013) because their socket stopped taking bytes")
                    .Register(*registry_)
                    .Add({});
  bookings = &BuildCounter().Name("tirai_bookings_total").Help("Sessions booked").Register(*registry_).Add({});
  clock_steps = &BuildCounter()
                     .Name("tirai_clock_steps_total")
                     .Help("Steps of the system clock (1 s or more), which session and call deadlines moved with")
                     .Register(*registry_)
                     .Add({});
  store_commit_seconds = &BuildHistogram()
                              .Name("tirai_store_commit_seconds")
                              .Help("Time to run and commit one group of store jobs")
                              .Register(*registry_)
                              .Add({}, Histogram::BucketBoundaries{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                                    0.01, 0.025, 0.05, 0.1, 0.5});
  store_batch_jobs = &BuildHistogram()
                          .Name("tirai_store_batch_jobs")
                          .Help("Store jobs committed together in one transaction")
                          .Register(*registry_)
                          .Add({}, Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024});
  store_acked_uncleared = &BuildGauge()
                               .Name("tirai_store_acked_uncleared")
                               .Help("Acknowledged messages whose bodies the store has not cleared yet")
                               .Register(*registry_)
                               .Add({});
  auto& errors = BuildCounter().Name("tirai_errors_total").Help("Error frames sent, by code").Register(*registry_);
  for (auto c : proto::all_error_codes)
    errors_[static_cast<std::size_t>(c)] = &errors.Add({{"code", std::string(proto::to_string(c))}});
  auto& states = BuildGauge().Name("tirai_sessions").Help("Sessions by state").Register(*registry_);
  for (auto s : {proto::SessionState::open, proto::SessionState::active, proto::SessionState::closing})
    states_[static_cast<std::size_t>(s)] = &states.Add({{"state", std::string(proto::to_string(s))}});
  states_[static_cast<std::size_t>(proto::SessionState::closed)] = nullptr;
  sms_out_of_session = &BuildCounter()
                            .Name("tirai_sms_out_of_session_total")
                            .Help("Inbound SMS from a pair with no live session (never delivered)")
                            .Register(*registry_)
                            .Add({});
  sms_out_of_session_replies = &BuildCounter()
                                    .Name("tirai_sms_out_of_session_replies_total")
                                    .Help("Out-of-session replies sent (at most one per sender and number per interval)")
                                    .Register(*registry_)
                                    .Add({});
  sms_sent = &BuildCounter().Name("tirai_sms_sent_total").Help("SMS accepted by the gateway").Register(*registry_).Add({});
  sms_send_failures = &BuildCounter()
                           .Name("tirai_sms_send_failures_total")
                           .Help("Gateway requests that failed and will be retried")
                           .Register(*registry_)
                           .Add({});
  sms_queue = &BuildGauge().Name("tirai_sms_queue").Help("SMS waiting for the gateway").Register(*registry_).Add({});
  sms_inbound_family_ =
      &BuildCounter().Name("tirai_sms_inbound_total").Help("Inbound SMS requests, by result").Register(*registry_);
  proxy_family_ = &BuildGauge()
                       .Name("tirai_sms_proxy_sessions")
                       .Help("Live sessions bound to each proxy number (pool usage)")
                       .Register(*registry_);
  store_disk_full = &BuildGauge()
                         .Name("tirai_store_disk_full")
                         .Help("1 while the database's disk has no room and changes are refused")
                         .Register(*registry_)
                         .Add({});
  neighbour_family_ = &BuildGauge()
                           .Name("tirai_neighbour_up")
                           .Help("1 when the neighbour service (kannel, coturn, kamailio) answered the last request, 0 if not")
                           .Register(*registry_);
  neighbour_failures_family_ =
      &BuildCounter()
           .Name("tirai_neighbour_failures_total")
           .Help("Requests to a neighbour service that failed (unreachable, timed out, garbage, refused)")
           .Register(*registry_);
  const auto counter = [this](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(*registry_).Add({});
  };
  calls_started = counter("tirai_calls_started_total", "Calls started (each rang or failed)");
  calls_answered = counter("tirai_calls_answered_total", "Calls answered");
  calls_active = &BuildGauge().Name("tirai_calls_active").Help("Calls ringing or up").Register(*registry_).Add({});
  call_seconds = counter("tirai_call_seconds_total", "Seconds of answered calls, counted when each ends");
  call_candidates_dropped = counter("tirai_call_candidates_dropped_total",
                                    "ICE candidates removed because they were not relay candidates of the TURN server");
  turn_allocations_cancelled =
      counter("tirai_turn_allocations_cancelled_total", "TURN allocations cancelled through coturn's CLI");
  turn_failures = counter("tirai_turn_failures_total",
                          "Requests to coturn's CLI that failed (down, refused, timed out); such calls end failed");
  call_ended_family_ =
      &BuildCounter().Name("tirai_calls_ended_total").Help("Calls ended, by reason").Register(*registry_);
  phone_decision_family_ = &BuildCounter()
                               .Name("tirai_phone_decisions_total")
                               .Help("Phone calls decided on the SIP seam, by direction and result")
                               .Register(*registry_);
  phone_ended_family_ =
      &BuildCounter().Name("tirai_phone_calls_ended_total").Help("Phone calls ended, by reason").Register(*registry_);
  phone_call_seconds = counter("tirai_phone_call_seconds_total", "Seconds of answered phone calls, counted when each ends");
  phone_calls_active =
      &BuildGauge().Name("tirai_phone_calls_active").Help("Phone calls ringing or up").Register(*registry_).Add({});
  sip_failures = counter("tirai_sip_rpc_failures_total",
                         "Requests to Kamailio's JSON-RPC that failed (down, refused, timed out)");
  auto& tones = BuildCounter()
                    .Name("tirai_phone_tones_total")
                    .Help("The one-minute tones of phone calls, by whether rtpengine played them")
                    .Register(*registry_);
  phone_tones_played = &tones.Add({{"result", "played"}});
  phone_tones_failed = &tones.Add({{"result", "failed"}});
  closed_family_ =
      &BuildCounter().Name("tirai_sessions_closed_total").Help("Sessions torn down, by reason").Register(*registry_);
  refused_family_ = &BuildCounter()
                         .Name("tirai_connections_refused_total")
                         .Help("Connections closed as they were accepted, by the limit they met")
                         .Register(*registry_);
}

void Metrics::sms_inbound(std::string_view result) {
  sms_inbound_family_->Add({{"result", std::string(result)}}).Increment();
}

prometheus::Gauge* Metrics::neighbour_up(std::string_view neighbour) {
  return &neighbour_family_->Add({{"neighbour", std::string(neighbour)}});
}

prometheus::Counter* Metrics::neighbour_failures(std::string_view neighbour) {
  return &neighbour_failures_family_->Add({{"neighbour", std::string(neighbour)}});
}

void Metrics::proxy_sessions(const std::string& number, double delta) {
  proxy_family_->Add({{"number", number}}).Increment(delta);
}

void Metrics::call_ended(std::string_view reason) {
  call_ended_family_->Add({{"reason", std::string(reason)}}).Increment();
}

void Metrics::phone_decision(std::string_view direction, std::string_view result) {
  phone_decision_family_->Add({{"direction", std::string(direction)}, {"result", std::string(result)}}).Increment();
}

void Metrics::phone_call_ended(std::string_view reason) {
  phone_ended_family_->Add({{"reason", std::string(reason)}}).Increment();
}

void Metrics::closed(std::string_view reason) { closed_family_->Add({{"reason", std::string(reason)}}).Increment(); }

void Metrics::connections_refused(std::string_view reason) {
  refused_family_->Add({{"reason", std::string(reason)}}).Increment();
}

std::string Metrics::render() const {
  prometheus::TextSerializer s;
  return s.Serialize(registry_->Collect());
}

}  // namespace tirai::relay
