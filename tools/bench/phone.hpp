#pragma once
#include <boost/json.hpp>

#include <cstddef>
#include <string>

namespace tirai::bench {

struct PhoneOptions {
  std::string tiraid;            // the tiraid to start
  std::string voice_stack;       // tools/voice-stack.sh (Kamailio, rtpengine)
  std::string scenarios;         // tests/data/sipp/ (the phones, played by SIPp)
  std::size_t calls = 20;        // sequential calls for the post-dial delay
  std::size_t decisions = 2000;  // seam requests per kind, one at a time
};

// Phone calls through the real Kamailio and rtpengine: the post-dial delay
// (the carrier's INVITE to its 180, SIPp as the client's phone and as the
// talent's registered phone) over sequential calls, and tiraid's decision
// time on the seam, for refusals and for calls that ring, against the same
// listener's answer to a request without the secret (HTTP alone) as the
// peer. Starts and stops everything.
boost::json::object phone_calls(const PhoneOptions& o);

}  // namespace tirai::bench
