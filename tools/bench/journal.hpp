#pragma once
#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace tirai::bench {

struct JournalOptions {
  std::string host = "127.0.0.1";
  std::uint16_t relay_port = 8080;
  std::uint16_t admin_port = 8081;
  std::string admin_token;
  std::filesystem::path dir;  // sessions.json and journal.log, kept across runs
  std::string run = "1";      // names this run's message ids
  std::size_t pairs = 4;
  double seconds = 5;
  std::string package = "chat-30m";
};

// One run of load: sends until `seconds` pass or the relay goes away,
// journaling every accepted and every message received.
boost::json::object journal_load(const JournalOptions& o);
// Connects every endpoint, drains what the relay owes it, and checks the
// whole journal; "ok" says whether every promise held.
boost::json::object journal_verify(const JournalOptions& o);

}  // namespace tirai::bench
