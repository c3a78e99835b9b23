#pragma once
#include "relay/config/config.hpp"

namespace tirai::relay {

// Sets up the process-wide logger on stderr: text or one JSON object per
// line. Components prefix their messages ("[session] …"). Nothing logged
// anywhere in tirai carries a real number, a token, a secret or message text.
void setup_logging(const Config::Log& log);
void set_log_level(std::string_view level);

}  // namespace tirai::relay
