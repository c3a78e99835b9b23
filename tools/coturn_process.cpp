#include "tools/coturn_process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <random>
#include <stdexcept>
#include <thread>

namespace tirai::client {

namespace {

std::string random_text(std::size_t n) {
  std::random_device rd;
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<char>('a' + rd() % 26);
  return s;
}

void write_private(const std::filesystem::path& file, const std::string& line) {
  std::ofstream(file) << line << '\n';
  std::filesystem::permissions(file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

// A blocking exchange with a 5 s deadline per read.
class CliConnection {
 public:
  explicit CliConnection(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0) throw std::runtime_error("socket failed");
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error(fmt::format("coturn's CLI on port {} does not answer", port));
  }
  ~CliConnection() { ::close(fd_); }
  CliConnection(const CliConnection&) = delete;
  CliConnection& operator=(const CliConnection&) = delete;

  void send(const std::string& line) {
    const std::string text = line + "\r\n";
    if (::send(fd_, text.data(), text.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(text.size()))
      throw std::runtime_error("coturn's CLI went away");
  }
  // Reads until the text read ends with one of `ends`.
  std::string read_until(std::initializer_list<std::string_view> ends) {
    std::string out;
    char buf[4096];
    while (true) {
      const auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) throw std::runtime_error("coturn's CLI closed or timed out: " + out);
      out.append(buf, static_cast<std::size_t>(n));
      for (auto e : ends)
        if (out.ends_with(e)) return out;
    }
  }

 private:
  int fd_;
};

}  // namespace

std::string coturn_cli(std::uint16_t port, const std::string& password, const std::string& command) {
  CliConnection c(port);
  c.read_until({"Enter password: \r\n"});
  c.send(password);
  c.read_until({"> "});
  c.send(command);
  return c.read_until({"> "});
}

bool Coturn::installed() { return std::filesystem::exists(turnserver) && std::filesystem::exists(uclient); }

Coturn::Coturn(std::filesystem::path dir)
    : dir_(std::move(dir)), secret_(random_text(32)), cli_password_(random_text(24)), port_(free_port()),
      cli_port_(free_port()) {
  std::random_device rd;
  min_relay_port_ = 30000 + static_cast<int>(rd() % 300) * 100;  // a range of 100 of its own, mostly
  std::filesystem::create_directories(dir_);
  write_private(dir_ / "turn.secret", secret_);
  write_private(dir_ / "turn-admin.password", cli_password_);
}

Coturn::~Coturn() { stop(); }

void Coturn::start() {
  // Its user database made before it starts, as Debian's package ships one:
  // on a new file, two allocations at once race to create its tables and one
  // is refused ("database is locked", then 401).
  std::ifstream schema("/usr/share/doc/coturn/schema.sql");
  std::stringstream sql;
  sql << schema.rdbuf();
  if (run_program("/usr/bin/sqlite3", {(dir_ / "turndb").string()}, sql.str()).first != 0)
    throw std::runtime_error("coturn's user database could not be made with sqlite3");
  process_ = std::make_unique<LoggedProcess>(turnserver, dir_ / "turnserver.log");
  // -n: no /etc/turnserver.conf. --allow-loopback-peers only because the
  // test's peers are on loopback: never in an operator's config.
  process_->start({"-n", "--listening-ip=127.0.0.1", fmt::format("--listening-port={}", port_),
                   "--relay-ip=127.0.0.1", fmt::format("--min-port={}", min_relay_port_),
                   fmt::format("--max-port={}", min_relay_port_ + 99), "--use-auth-secret",
                   "--static-auth-secret=" + secret_, "--realm=tirai.test", "--cli-ip=127.0.0.1",
                   fmt::format("--cli-port={}", cli_port_), "--cli-password=" + cli_password_,
                   "--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-tcp-relay", "--no-multicast-peers",
                   "--userdb=" + (dir_ / "turndb").string(), "--pidfile=" + (dir_ / "turnserver.pid").string(),
                   "--log-file=stdout", "--simple-log", "--no-software-attribute"});
  // Ready once its CLI takes a login (it prints nothing reliable at that point).
  for (int attempt = 0;; ++attempt) {
    try {
      coturn_cli(cli_port_, cli_password_, "pu");
      return;
    } catch (const std::exception& e) {
      if (!process_->running() || attempt == 100)
        throw std::runtime_error(std::string("coturn did not start: ") + e.what());
      // Connection refused comes back at once: a short pause between tries
      // while turnserver opens its sockets.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

void Coturn::stop() {
  if (process_ && process_->running()) process_->stop(SIGTERM);
}

std::string Coturn::tiraid_calls_toml() const {
  return fmt::format(
      "[calls]\nenabled = true\nturn_urls = [\"turn:127.0.0.1:{}?transport=udp\"]\n"
      "turn_secret_file = \"{}\"\nturn_admin = \"127.0.0.1:{}\"\nturn_admin_password_file = \"{}\"\n",
      port_, (dir_ / "turn.secret").string(), cli_port_, (dir_ / "turn-admin.password").string());
}

std::vector<std::string> Coturn::allocations() const {
  const auto listing = coturn_cli(cli_port_, cli_password_, "ps");
  std::vector<std::string> out;
  for (std::size_t at = listing.find(", user <"); at != std::string::npos; at = listing.find(", user <", at)) {
    at += 8;
    out.push_back(listing.substr(at, listing.find(">:", at) - at));
  }
  return out;
}

std::unique_ptr<LoggedProcess> Coturn::allocate(const std::string& username, const std::string& password) const {
  auto p = std::make_unique<LoggedProcess>(uclient, dir_ / fmt::format("uclient-{}.log", random_text(6)));
  // -y: two allocations of this user talking to each other through the
  // relay; -n/-z: a message every 20 ms for as long as the test needs.
  p->start({"-u", username, "-w", password, "-p", std::to_string(port_), "-e", "127.0.0.1", "-y", "-n", "100000",
            "-m", "1", "-z", "20", "127.0.0.1"});
  return p;
}

bool Coturn::can_allocate(const std::string& username, const std::string& password) const {
  LoggedProcess p(uclient, dir_ / fmt::format("uclient-{}.log", random_text(6)));
  p.start({"-u", username, "-w", password, "-p", std::to_string(port_), "-e", "127.0.0.1", "-y", "-n", "1", "-m", "1",
           "127.0.0.1"});
  // It says "Total transmit time" once it has sent and received through
  // its allocations, and exits 255 when coturn refused them.
  const bool granted = p.wait_for_log("Total transmit time", 0, std::chrono::seconds(20));
  p.stop(SIGTERM);
  return granted;
}

std::string Coturn::password_for(const std::string& username) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(username.data()), username.size(), mac, &len);
  unsigned char text[64];
  const int n = EVP_EncodeBlock(text, mac, static_cast<int>(len));
  return {reinterpret_cast<const char*>(text), static_cast<std::size_t>(n)};
}

}  // namespace tirai::client
