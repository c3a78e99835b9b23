#pragma once
#include "relay/config.hpp"

#include <filesystem>

namespace tirai::relay {

// tiraid's lifecycle: init (files, keys, store), start (listeners, timers) in
// that order, stop in reverse on SIGTERM/SIGINT; SIGHUP reloads what can change
// without a restart (log level, packages). Start-up failures throw.
class Daemon {
 public:
  Daemon(Config config, std::filesystem::path config_file);
  ~Daemon();
  // Runs until a stop signal; returns the process exit code.
  int run();

 private:
  struct Impl;
  Config config_;
  std::filesystem::path config_file_;
};

// Creates the admin token file (0600, with its folder) when missing and returns the token.
std::string load_or_create_token(const std::filesystem::path& file);

}  // namespace tirai::relay
