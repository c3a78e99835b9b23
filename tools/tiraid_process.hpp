#pragma once
#include "tools/client.hpp"

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tirai::client {

// A child process whose stdout and stderr are collected line by line (and
// appended to a log file), so callers wait on what it says (events), never
// on time. The child dies with its parent.
class LoggedProcess {
 public:
  LoggedProcess(std::filesystem::path program, std::filesystem::path log_file);
  ~LoggedProcess();
  LoggedProcess(const LoggedProcess&) = delete;
  LoggedProcess& operator=(const LoggedProcess&) = delete;

  void start(const std::vector<std::string>& args);
  // Runs `program` from the next start() on (a launcher such as prlimit).
  void set_program(std::filesystem::path program) { program_ = std::move(program); }
  // Sends `sig` and waits for the exit; returns the exit status (128+signal
  // when killed), -1 when not running.
  int stop(int sig);
  void signal(int sig);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // Waits until a line after the `from`-th contains `needle`; false on timeout
  // or when the process ended without saying it.
  bool wait_for_log(std::string_view needle, std::size_t from = 0,
                    std::chrono::milliseconds timeout = std::chrono::seconds(15));
  std::size_t log_lines() const;
  std::vector<std::string> lines(std::size_t from = 0) const;
  // When each line was read (for measurements: tirai-bench's SMS workload).
  std::vector<std::chrono::steady_clock::time_point> line_times(std::size_t from = 0) const;
  std::chrono::steady_clock::time_point started_at() const { return started_at_; }
  const std::filesystem::path& log_file() const { return log_file_; }

 private:
  void reader(int fd);

  std::filesystem::path program_;
  std::filesystem::path log_file_;
  pid_t pid_ = -1;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> lines_;
  std::vector<std::chrono::steady_clock::time_point> times_;
  std::chrono::steady_clock::time_point started_at_;
  bool eof_ = false;
};

// A real tiraid on loopback with ports chosen by the kernel, for the demo and
// the end-to-end tests. Its stderr is collected into `log_file()`; callers
// wait on log lines (events), never on time.
class TiraidProcess {
 public:
  // `extra_toml` is appended to a config that puts every file under `dir`.
  TiraidProcess(std::filesystem::path tiraid, std::filesystem::path dir, std::string extra_toml = {});

  // Starts tiraid and waits for its ready line (30 s at most).
  void start();
  // Starts tiraid through `launcher` (its program and arguments, then
  // tiraid's), e.g. {"/usr/bin/prlimit", "--nofile=160:160", "--"}.
  void start_with(std::vector<std::string> launcher);
  // SIGTERM and wait for the exit; returns the exit status.
  int stop() { return process_.stop(SIGTERM); }
  // SIGKILL: no chance to flush or clean up anything.
  void kill9() { process_.stop(SIGKILL); }
  void signal(int sig) { process_.signal(sig); }
  // Waits until a log line after the `from`-th contains `needle`; false on timeout.
  bool wait_for_log(std::string_view needle, std::size_t from = 0,
                    std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
    return process_.wait_for_log(needle, from, timeout);
  }
  std::size_t log_lines() const { return process_.log_lines(); }
  std::vector<std::string> lines(std::size_t from = 0) const { return process_.lines(from); }
  std::string log() const;

  pid_t pid() const { return process_.pid(); }
  std::uint16_t relay_port() const { return relay_port_; }
  std::uint16_t admin_port() const { return admin_port_; }
  std::uint16_t sms_port() const { return sms_port_; }  // 0 unless [sms] is enabled
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path config_file() const { return dir_ / "tiraid.toml"; }
  std::filesystem::path db_file() const { return dir_ / "data" / "tirai.db"; }
  std::filesystem::path log_file() const { return dir_ / "tiraid.log"; }

  client::AdminClient admin() const;
  client::WsClient ws() const;

 private:
  std::filesystem::path dir_;
  LoggedProcess process_;
  std::uint16_t relay_port_ = 0;
  std::uint16_t admin_port_ = 0;
  std::uint16_t sms_port_ = 0;
  std::filesystem::path tiraid_;
};

// Runs `program` with `args` and `input` on its stdin to completion; returns
// (exit status, stdout and stderr together).
std::pair<int, std::string> run_program(const std::filesystem::path& program, const std::vector<std::string>& args,
                                        std::string_view input = {});
// The same, calling `running(pid)` once `program` has been executed and
// before it is given `input` (so while it waits for its stdin): to look at
// the process from outside, e.g. at /proc/PID/cmdline.
std::pair<int, std::string> run_program(const std::filesystem::path& program, const std::vector<std::string>& args,
                                        std::string_view input, const std::function<void(pid_t)>& running);

// A loopback TCP port that was free a moment ago (for peers such as Kannel
// whose ports must be known before they start).
std::uint16_t free_port();

}  // namespace tirai::client
