#pragma once
// A fake SMS gateway for the relay's unit tests (SMS and phone calls).
#include "relay/sms/sms_gateway.hpp"

#include <deque>
#include <string>
#include <vector>

namespace tirai::test {

// Holds what the relay asked to send until the test says the gateway accepted it.
class FakeGateway final : public relay::SmsGateway {
 public:
  struct Sent {
    std::string from, to, text, session;
  };
  void send(relay::OutboundSms sms) override { waiting.push_back(std::move(sms)); }
  void drop_session(const std::string& session) override {
    dropped.push_back(session);
    std::erase_if(waiting, [&](const relay::OutboundSms& s) { return s.session == session; });
  }
  void drop_client(std::int64_t client) override {
    std::erase_if(waiting, [&](const relay::OutboundSms& s) { return s.client == client; });
  }
  // The gateway accepts everything waiting, in order.
  void accept_all() {
    while (!waiting.empty()) {
      auto s = std::move(waiting.front());
      waiting.pop_front();
      sent.push_back({s.from, std::string(s.to->view()), s.text, s.session});
      if (s.accepted) s.accepted();
    }
  }
  std::deque<relay::OutboundSms> waiting;
  std::vector<Sent> sent;
  std::vector<std::string> dropped;
};

}  // namespace tirai::test
