#pragma once
#include "tools/tiraid_process.hpp"

#include <boost/json.hpp>

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace tirai::bench {

struct PhoneOptions {
  std::string tiraid;            // the tiraid to start
  std::string voice_stack;       // tools/voice-stack.sh (Kamailio, rtpengine)
  std::string scenarios;         // tests/data/sipp/ (the phones, played by SIPp)
  std::size_t calls = 20;        // sequential calls for the post-dial delay
  std::size_t decisions = 2000;  // seam requests per kind, one at a time
  std::vector<std::size_t> levels = {25, 50, 100, 200, 300, 400};  // phone-load: concurrent calls, in turn
  double load_seconds = 8;       // phone-load: media per level
};

// What both phone workloads run: a tiraid with [sms] and [phone] (one proxy
// number, +6281100000001) in a folder of its own, and Kamailio and rtpengine
// from tools/voice-stack.sh (`stack_args` added to its arguments).
struct VoiceRig {
  VoiceRig(const PhoneOptions& o, const std::string& name, std::vector<std::string> stack_args = {});
  ~VoiceRig();
  VoiceRig(const VoiceRig&) = delete;
  VoiceRig& operator=(const VoiceRig&) = delete;
  // The port of what voice-stack.sh printed as `key` (sip, talent_sip, ...).
  std::uint16_t port_of(const std::string& key) const;
  // Registers the talent `alias`'s phone (SIPp at 127.0.0.1:contact_port)
  // with her SIP credential as tiraid would issue it.
  void register_talent(const std::string& alias, std::uint16_t contact_port) const;

  const PhoneOptions& options;
  std::filesystem::path dir;
  std::uint16_t seam_port, rpc_port;
  client::TiraidProcess relay;
  client::LoggedProcess voice;
  std::map<std::string, std::string> said;
};

// Phone calls through the real Kamailio and rtpengine: the post-dial delay
// (the carrier's INVITE to its 180, SIPp as the client's phone and as the
// talent's registered phone) over sequential calls, and tiraid's decision
// time on the seam, for refusals and for calls that ring, against the same
// listener's answer to a request without the secret (HTTP alone) as the
// peer. Starts and stops everything.
boost::json::object phone_calls(const PhoneOptions& o);

// Concurrent phone calls through the real Kamailio and rtpengine (userspace),
// level after level (o.levels, added to the calls already up): each call's
// client side sends 50 RTP packets a second that the talent's phone (SIPp)
// echoes; per level the echo loss, the round trip and rtpengine's CPU. The
// calls carried: the last level with at most 1% loss and a p99 round trip
// of at most 50 ms. Starts and stops everything.
boost::json::object phone_load(const PhoneOptions& o);

}  // namespace tirai::bench
