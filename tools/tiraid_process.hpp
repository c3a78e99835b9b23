#pragma once
#include "tools/client.hpp"

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tirai::client {

// A real tiraid on loopback with ports chosen by the kernel, for the demo and
// the end-to-end tests. Its stderr is collected into `log_file()`; callers
// wait on log lines (events), never on time.
class TiraidProcess {
 public:
  // `extra_toml` is appended to a config that puts every file under `dir`.
  TiraidProcess(std::filesystem::path tiraid, std::filesystem::path dir, std::string extra_toml = {});
  ~TiraidProcess();
  TiraidProcess(const TiraidProcess&) = delete;
  TiraidProcess& operator=(const TiraidProcess&) = delete;

  // Starts tiraid and waits for its ready line (30 s at most).
  void start();
  // SIGTERM and wait for the exit; returns the exit status.
  int stop();
  // SIGKILL: no chance to flush or clean up anything.
  void kill9();
  void signal(int sig);
  // Waits until a log line after the `from`-th contains `needle`; false on timeout.
  bool wait_for_log(std::string_view needle, std::size_t from = 0,
                    std::chrono::milliseconds timeout = std::chrono::seconds(15));
  std::size_t log_lines() const;
  std::string log() const;

  pid_t pid() const { return pid_; }
  std::uint16_t relay_port() const { return relay_port_; }
  std::uint16_t admin_port() const { return admin_port_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path config_file() const { return dir_ / "tiraid.toml"; }
  std::filesystem::path db_file() const { return dir_ / "data" / "tirai.db"; }
  std::filesystem::path log_file() const { return dir_ / "tiraid.log"; }

  client::AdminClient admin() const;
  client::WsClient ws() const;

 private:
  void reader(int fd);

  std::filesystem::path tiraid_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> lines_;
  bool eof_ = false;
  std::uint16_t relay_port_ = 0;
  std::uint16_t admin_port_ = 0;
};

// Runs `program` with `args` and `input` on its stdin to completion; returns
// (exit status, stdout and stderr together).
std::pair<int, std::string> run_program(const std::filesystem::path& program, const std::vector<std::string>& args,
                                        std::string_view input = {});

}  // namespace tirai::client
