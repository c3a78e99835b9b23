#pragma once
// A real coturn for the call tests and tirai-bench: on loopback, with the
// use-auth-secret scheme tiraid issues credentials in, and its admin CLI on
// for tiraid (and the tests) to list and cancel allocations.
#include "tools/tiraid_process.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace tirai::client {

class Coturn {
 public:
  static constexpr const char* turnserver = "/usr/bin/turnserver";
  static constexpr const char* uclient = "/usr/bin/turnutils_uclient";
  static bool installed();

  // Picks free loopback ports and a random secret and CLI password; writes
  // them as tiraid's secret files under `dir`.
  explicit Coturn(std::filesystem::path dir);
  ~Coturn();
  Coturn(const Coturn&) = delete;
  Coturn& operator=(const Coturn&) = delete;

  // Starts turnserver and waits until its CLI answers.
  void start();
  void stop();

  std::uint16_t port() const { return port_; }
  std::uint16_t cli_port() const { return cli_port_; }
  // tiraid's [calls] table for this coturn (more keys may follow).
  std::string tiraid_calls_toml() const;
  // The usernames of the allocations coturn holds now, from its CLI.
  std::vector<std::string> allocations() const;
  // A TURN client allocating with these credentials and sending through its
  // allocation until stopped (turnutils_uclient).
  std::unique_ptr<LoggedProcess> allocate(const std::string& username, const std::string& password) const;
  // One allocation attempt to completion: whether coturn granted it.
  bool can_allocate(const std::string& username, const std::string& password) const;
  // The password coturn expects for `username` (the scheme, computed here).
  std::string password_for(const std::string& username) const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::string secret_;
  std::string cli_password_;
  std::uint16_t port_, cli_port_;
  int min_relay_port_;
  std::unique_ptr<LoggedProcess> process_;
};

// Sends `command` to a coturn CLI at 127.0.0.1:`port` after logging in with
// `password`; returns what it answered up to its prompt. Throws on failure.
std::string coturn_cli(std::uint16_t port, const std::string& password, const std::string& command);

}  // namespace tirai::client
