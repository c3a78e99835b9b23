#pragma once
#include <boost/json.hpp>

#include <cstddef>
#include <string>

namespace tirai::bench {

struct SmsOptions {
  std::string tiraid;          // the tiraid to start (SMS needs tiraid and Kannel wired to each other)
  std::size_t sessions = 20;   // booked SMS sessions (distinct client numbers, 4 proxy numbers)
  std::size_t messages = 2000; // per throughput direction
  std::size_t samples = 50;    // sequential round trips per latency direction
};

// The SMS gateway path with real Kannel (bearerbox, smsbox, fakesmsc as the
// carrier): talent-to-phone and phone-to-talent SMS per second, and one-way
// latencies, both through tiraid and Kannel. Starts and stops everything.
boost::json::object sms_gateway(const SmsOptions& o);

}  // namespace tirai::bench
