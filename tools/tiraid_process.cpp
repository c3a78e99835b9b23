#include "tools/tiraid_process.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace tirai::client {

namespace {
std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

pid_t spawn(const std::filesystem::path& program, const std::vector<std::string>& args, int out_fd, int in_fd = -1) {
  std::vector<char*> argv;
  std::string bin = program.string();
  argv.push_back(bin.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // The child dies with its parent: a crashed test leaves no relay behind.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (in_fd >= 0) ::dup2(in_fd, STDIN_FILENO);
    ::dup2(out_fd, STDERR_FILENO);
    ::dup2(out_fd, STDOUT_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}
}  // namespace

LoggedProcess::LoggedProcess(std::filesystem::path program, std::filesystem::path log_file)
    : program_(std::move(program)), log_file_(std::move(log_file)) {}

LoggedProcess::~LoggedProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (reader_.joinable()) reader_.join();
}

void LoggedProcess::start(const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  {
    std::lock_guard lock(mutex_);
    eof_ = false;
  }
  started_at_ = std::chrono::steady_clock::now();
  pid_ = spawn(program_, args, fds[1]);
  ::close(fds[1]);
  if (reader_.joinable()) reader_.join();
  reader_ = std::thread([this, fd = fds[0]] { reader(fd); });
}

void LoggedProcess::reader(int fd) {
  std::ofstream out(log_file_, std::ios::app);
  std::string pending;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.write(buf, n);
    out.flush();
    pending.append(buf, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      {
        std::lock_guard lock(mutex_);
        lines_.push_back(pending.substr(0, nl));
        times_.push_back(std::chrono::steady_clock::now());
      }
      changed_.notify_all();
      pending.erase(0, nl + 1);
    }
  }
  ::close(fd);
  std::lock_guard lock(mutex_);
  eof_ = true;
  changed_.notify_all();
}

bool LoggedProcess::wait_for_log(std::string_view needle, std::size_t from, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  std::size_t checked = from;
  return changed_.wait_for(lock, timeout, [&] {
    for (; checked < lines_.size(); ++checked)
      if (lines_[checked].find(needle) != std::string::npos) return true;
    return eof_;
  }) && checked < lines_.size();
}

std::size_t LoggedProcess::log_lines() const {
  std::lock_guard lock(mutex_);
  return lines_.size();
}

std::vector<std::string> LoggedProcess::lines(std::size_t from) const {
  std::lock_guard lock(mutex_);
  if (from >= lines_.size()) return {};
  return {lines_.begin() + static_cast<std::ptrdiff_t>(from), lines_.end()};
}

std::vector<std::chrono::steady_clock::time_point> LoggedProcess::line_times(std::size_t from) const {
  std::lock_guard lock(mutex_);
  if (from >= times_.size()) return {};
  return {times_.begin() + static_cast<std::ptrdiff_t>(from), times_.end()};
}

int LoggedProcess::stop(int sig) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void LoggedProcess::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

TiraidProcess::TiraidProcess(std::filesystem::path tiraid, std::filesystem::path dir, std::string extra_toml)
    : dir_(std::move(dir)), process_(tiraid, dir_ / "tiraid.log"), tiraid_(tiraid) {
  // A test that tunes [relay] or [admin] gets the base keys (the loopback
  // listener, the files under `dir`) added to its table.
  const auto merge = [&extra_toml](std::string_view header, std::string base) {
    const auto at = extra_toml.find(header);
    if (at == std::string::npos) return base;
    extra_toml.replace(at, header.size(), base);
    return std::string();
  };
  const auto relay_table = merge("[relay]\n", "[relay]\nlisten = \"127.0.0.1:0\"\n");
  const auto admin_table =
      merge("[admin]\n", "[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"secrets/admin.token\"\n");
  {
    std::ofstream cfg(config_file());
    cfg << relay_table << admin_table << "[store]\npath = \"data/tirai.db\"\n"
        << "[keys]\nmaster_key_file = \"secrets/master.key\"\n"
        << extra_toml;
  }
  // As an operator must: the [sms] secrets may be in it (tiraid refuses a
  // config with secrets that others can read).
  std::filesystem::permissions(config_file(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

void TiraidProcess::start() { start_with({}); }

void TiraidProcess::start_with(std::vector<std::string> launcher) {
  const std::size_t from = process_.log_lines();
  std::vector<std::string> args;
  if (launcher.empty()) {
    process_.set_program(tiraid_);
  } else {
    process_.set_program(launcher.front());
    args.assign(launcher.begin() + 1, launcher.end());
    args.push_back(tiraid_.string());
  }
  args.insert(args.end(), {"--config", config_file().string()});
  process_.start(args);
  if (!wait_for_log("[daemon] ready:", from, std::chrono::seconds(30)))
    throw std::runtime_error("tiraid did not become ready:\n" + log());
  static const std::regex ready(R"(ready: relay 127\.0\.0\.1:(\d+) admin 127\.0\.0\.1:(\d+)(?: sms 127\.0\.0\.1:(\d+))?)");
  for (const auto& line : process_.lines(from)) {
    std::smatch m;
    if (std::regex_search(line, m, ready)) {
      relay_port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
      admin_port_ = static_cast<std::uint16_t>(std::stoi(m[2]));
      sms_port_ = m[3].matched ? static_cast<std::uint16_t>(std::stoi(m[3])) : 0;
    }
  }
}

std::string TiraidProcess::log() const { return read_file(log_file()); }

client::AdminClient TiraidProcess::admin() const {
  std::string token;
  std::ifstream(dir_ / "secrets" / "admin.token") >> token;
  return client::AdminClient("127.0.0.1", admin_port_, token);
}

client::WsClient TiraidProcess::ws() const { return client::WsClient("127.0.0.1", relay_port_); }

std::pair<int, std::string> run_program(const std::filesystem::path& program, const std::vector<std::string>& args,
                                        std::string_view input) {
  return run_program(program, args, input, {});
}

std::pair<int, std::string> run_program(const std::filesystem::path& program, const std::vector<std::string>& args,
                                        std::string_view input, const std::function<void(pid_t)>& running) {
  int fds[2], in[2], exec_done[2];
  if (::pipe2(fds, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(exec_done, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");
  const pid_t pid = spawn(program, args, fds[1], in[0]);
  ::close(in[0]);
  // The child's copy of exec_done closes when execv succeeds (or the child
  // exits): end of file here means `program` runs, with its own argv.
  ::close(exec_done[1]);
  char ignored;
  while (::read(exec_done[0], &ignored, 1) < 0 && errno == EINTR) {
  }
  ::close(exec_done[0]);
  if (running) {
    // The pipe closes inside execve, before the new program's arguments
    // are in place: /proc/PID/cmdline reads empty until then (seen under
    // ASan, whose binaries take longer to load). Wait for them.
    const auto cmdline = fmt::format("/proc/{}/cmdline", pid);
    for (const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
         std::chrono::steady_clock::now() < until;) {
      std::ifstream f(cmdline, std::ios::binary);
      if (f.get() != std::char_traits<char>::eof()) break;
      std::this_thread::yield();
    }
    running(pid);
  }
  // Small inputs fit the pipe buffer, so writing before reading cannot block.
  if (!input.empty() && ::write(in[1], input.data(), input.size()) != static_cast<ssize_t>(input.size()))
    throw std::runtime_error("cannot write the program's input");
  ::close(in[1]);
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

std::uint16_t free_port() {
  // Below the kernel's ephemeral range (32768-60999 by default), so that no
  // outgoing connection takes the port between this check and the peer's
  // bind. Handed out in turn from a counter that every test process on the
  // machine shares (under flock), so that tests running in parallel never
  // pick the same port; each one is still checked with a bind.
  constexpr int first = 20000, count = 12000;
  const auto path = std::filesystem::temp_directory_path() / "tirai-test-ports";
  const int lock = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock >= 0) ::flock(lock, LOCK_EX);
  int next = -1;
  if (lock >= 0) {
    char buf[16] = {};
    if (::pread(lock, buf, sizeof buf - 1, 0) > 0) next = std::atoi(buf);
  }
  if (next < 0 || next >= count) next = static_cast<int>(std::random_device{}() % count);
  std::uint16_t found = 0;
  for (int attempt = 0; attempt < 200 && !found; ++attempt) {
    const auto port = static_cast<std::uint16_t>(first + next);
    next = (next + 1) % count;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) break;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) found = port;
    ::close(fd);
  }
  if (lock >= 0) {
    const auto text = std::to_string(next);
    if (::ftruncate(lock, 0) != 0 || ::pwrite(lock, text.data(), text.size(), 0) < 0) {
      // The next caller starts at random instead: still checked with a bind.
    }
    ::close(lock);  // releases the flock
  }
  if (!found) throw std::runtime_error("no free port");
  return found;
}

}  // namespace tirai::client
