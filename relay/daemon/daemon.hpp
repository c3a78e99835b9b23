#pragma once
#include "relay/config/config.hpp"

#include <filesystem>
#include <string_view>

namespace tirai::relay {

// tiraid's lifecycle: init (files, keys, store), start (listeners, timers) in
// that order, stop in reverse on SIGTERM/SIGINT; SIGHUP reloads what can change
// without a restart (log level, packages). Start-up failures throw.
class Relay;

class Daemon {
 public:
  Daemon(Config config, std::filesystem::path config_file);
  // Runs until a stop signal; returns the process exit code.
  int run();

 private:
  // False when the file was refused (the running configuration stays).
  bool reload(Relay& relay);

  Config config_;
  std::filesystem::path config_file_;
};

// Keeps keys out of core files and away from /proc/PID/mem readers of the
// same user: no core dumps, not dumpable (also ignores SIGPIPE). Called by
// every path that loads keys; cannot fail.
void harden_process();

// Creates a one-line secret file (0600, with its folder) holding a random
// secret when missing, and returns its first line: the admin token, the TURN
// secret, coturn's CLI password. Throws, naming `what`, when the file is open
// to group or others or holds no usable secret.
std::string load_or_create_secret_file(const std::filesystem::path& file, std::string_view what);

// Throws, naming `what` and `file` and the chmod that fixes it, when `file`
// (a key or token) is open to group or others. A missing file passes: its
// reader reports that.
void require_private(const std::filesystem::path& file, std::string_view what);

// The config file holds secrets once [sms] is set up: throws when others may
// read it and it holds sms.inbound_secret or sms.password; warns when group
// or others may read it otherwise.
void check_config_file(const Config& config, const std::filesystem::path& file);

// Offline: re-wraps every data key and recomputes every blind index of the
// configured database under the master key in `new_key_file` (created 0600
// when missing), in one transaction. Afterwards the old key file opens
// nothing. Throws when tiraid is running on the database or a key is wrong.
void rotate_master_key(const Config& config, const std::filesystem::path& new_key_file);

// An exclusive lock beside the database, so that one tiraid (or one key
// rotation) at a time works on it. Throws when another process holds it.
class DatabaseLock {
 public:
  explicit DatabaseLock(const std::filesystem::path& db);
  ~DatabaseLock();
  DatabaseLock(const DatabaseLock&) = delete;
  DatabaseLock& operator=(const DatabaseLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace tirai::relay
