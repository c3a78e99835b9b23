// tiraid as a system service (issue "Install it like a Debian daemon"):
// --check-config, what it tells systemd (sd_notify), backups while the
// relay runs. The package itself is tested by tools/test-package.sh.
#include "support/relay_fixture.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <future>
#include <thread>

namespace tirai::test {

namespace {

using namespace std::chrono_literals;

std::pair<int, std::string> check_config(const std::filesystem::path& file) {
  return client::run_program(TIRAID_PATH, {"--check-config", file.string()});
}

void write_file(const std::filesystem::path& file, const std::string& text) {
  std::ofstream(file) << text;
  std::filesystem::permissions(file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

// A systemd notify socket the test owns: tiraid's datagrams, one at a time.
class NotifySocket {
 public:
  explicit NotifySocket(std::filesystem::path path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    REQUIRE(path_.string().size() < sizeof a.sun_path);
    std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~NotifySocket() { ::close(fd_); }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // The next datagram; empty after 10 s without one.
  std::string next() {
    char buf[4096];
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
  // The next datagram that is not a watchdog ping; counts the pings.
  std::string next_state() {
    std::string d = next();
    for (; d == "WATCHDOG=1"; d = next()) ++pings;
    return d;
  }
  int pings = 0;

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace

TEST_CASE("service: --check-config prints the settings in effect with secrets hidden, and exits 0", "[e2e][service]") {
  TempDir dir;
  const auto file = dir.path() / "tiraid.toml";
  write_file(file, R"([relay]
listen = "127.0.0.1:18080"
[store]
path = "data/tirai.db"
[sms]
enabled = true
inbound_secret = "kannel-to-tirai-0123456789"
username = "tirai"
password = "canary-password-42"
proxy_numbers = ["+6281100000001"]
[packages.sleep-call]
channels = ["chat", "voice"]
duration = "8h"
)");
  const auto [status, out] = check_config(file);
  INFO(out);
  CHECK(status == 0);
  // What is in effect: the file's values, relative paths made absolute, and the defaults of the rest.
  CHECK_THAT(out, Catch::Contains("listen = \"127.0.0.1:18080\""));
  CHECK_THAT(out, Catch::Contains("path = \"" + (dir.path() / "data" / "tirai.db").string() + "\""));
  CHECK_THAT(out, Catch::Contains("[packages.sleep-call]\nchannels = [\"chat\", \"voice\"]\nduration = \"8h\""));
  CHECK_THAT(out, Catch::Contains("[log]\nlevel = \"info\""));
  // The secrets are shown as set, never as they are.
  CHECK_THAT(out, Catch::Contains("inbound_secret = \"[secret]\""));
  CHECK_THAT(out, Catch::Contains("password = \"[secret]\""));
  CHECK(out.find("kannel-to-tirai-0123456789") == std::string::npos);
  CHECK(out.find("canary-password-42") == std::string::npos);
  CHECK_THAT(out, Catch::Contains("is valid"));
  // Checking creates nothing: no database, no key, no token.
  CHECK(!std::filesystem::exists(dir.path() / "data"));
  CHECK(!std::filesystem::exists(dir.path() / "master.key"));
  CHECK(!std::filesystem::exists(dir.path() / "admin.token"));
}

TEST_CASE("service: the settings --check-config prints are a config with the same settings", "[e2e][service]") {
  TempDir dir;
  const auto file = dir.path() / "tiraid.toml";
  write_file(file, "[relay]\nlisten = \"127.0.0.1:18080\"\n[sessions]\ngrace = \"90s\"\n[packages.night]\nduration = \"9h\"\n");
  const auto [status, out] = client::run_program(TIRAID_PATH, {"--check-config", file.string()});
  REQUIRE(status == 0);
  const auto settings = out.substr(0, out.find("tiraid: "));
  const auto again = dir.path() / "again.toml";
  write_file(again, settings);
  const auto [again_status, again_out] = check_config(again);
  INFO(again_out);
  CHECK(again_status == 0);
  CHECK(again_out.substr(0, again_out.find("tiraid: ")) == settings);
}

TEST_CASE("service: --check-config names every problem and exits 1", "[e2e][service]") {
  TempDir dir;
  const auto file = dir.path() / "tiraid.toml";
  write_file(file, "[relay]\nlisten = \"nowhere\"\n[log]\nlevel = \"loud\"\nbogus = 1\n");
  const auto [status, out] = check_config(file);
  INFO(out);
  CHECK(status == 1);
  CHECK_THAT(out, Catch::Contains("relay.listen (line 2)"));
  CHECK_THAT(out, Catch::Contains("log.level (line 4)"));
  CHECK_THAT(out, Catch::Contains("log.bogus (line 5): unknown key"));
  CHECK(check_config(dir.path() / "missing.toml").first == 1);
  // A config that others may read while it holds the SMS secrets would not start: nor does it check.
  write_file(file, "[sms]\nenabled = true\ninbound_secret = \"kannel-to-tirai-0123456789\"\nusername = \"u\"\n"
                   "password = \"p\"\nproxy_numbers = [\"+6281100000001\"]\n");
  std::filesystem::permissions(file, std::filesystem::perms::others_read, std::filesystem::perm_options::add);
  const auto [open_status, open_out] = check_config(file);
  INFO(open_out);
  CHECK(open_status == 1);
  CHECK_THAT(open_out, Catch::Contains("let others read sms.inbound_secret"));
}

TEST_CASE("service: tiraid tells systemd it is ready, reloading, alive and stopping", "[e2e][service]") {
  TempDir dir, tiraid_dir;
  NotifySocket notify(dir.path() / "notify");
  client::TiraidProcess tiraid(TIRAID_PATH, tiraid_dir.path());
  // As systemd starts a Type=notify service with WatchdogSec=200ms.
  tiraid.start_with({"/usr/bin/env", "NOTIFY_SOCKET=" + notify.path().string(), "WATCHDOG_USEC=200000"});
  const auto ready = notify.next_state();
  CHECK_THAT(ready, Catch::StartsWith("READY=1\nSTATUS=listening: relay 127.0.0.1:"));
  // The relay loop's heartbeat, at half the watchdog's interval.
  CHECK(notify.next() == "WATCHDOG=1");
  CHECK(notify.next() == "WATCHDOG=1");
  CHECK(tiraid.wait_for_log("systemd's watchdog hears from the relay loop every 100 ms"));

  tiraid.signal(SIGHUP);
  const auto reloading = notify.next_state();
  CHECK_THAT(reloading, Catch::StartsWith("RELOADING=1\nMONOTONIC_USEC="));
  CHECK_THAT(notify.next_state(), Catch::StartsWith("READY=1\nSTATUS=listening: "));
  CHECK(tiraid.wait_for_log("[daemon] reloaded"));

  // A reload of a broken file is refused, and systemd still hears READY=1.
  std::ofstream(tiraid.config_file(), std::ios::app) << "[log]\nlevel = \"loud\"\n";
  tiraid.signal(SIGHUP);
  CHECK_THAT(notify.next_state(), Catch::StartsWith("RELOADING=1\n"));
  CHECK_THAT(notify.next_state(), Catch::EndsWith("the last reload was refused"));

  tiraid.signal(SIGTERM);
  CHECK(notify.next_state() == "STOPPING=1\nSTATUS=stopping");
  CHECK(tiraid.stop() == 0);
}

TEST_CASE("service: on the journal's stream a log line carries its priority and no timestamp", "[e2e][service]") {
  TempDir dir;
  client::TiraidProcess tiraid(TIRAID_PATH, dir.path());
  // As systemd starts a service whose stderr is the journal: JOURNAL_STREAM
  // names the device and inode of that stream (here, the test's pipe).
  tiraid.start_with({"/bin/sh", "-c", R"(JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$0" "$@")"});
  const auto lines = tiraid.lines();
  const auto ready = std::find_if(lines.begin(), lines.end(), [](const auto& l) { return l.find("[daemon] ready:") != l.npos; });
  REQUIRE(ready != lines.end());
  CHECK_THAT(*ready, Catch::StartsWith("<6>info [daemon] ready: relay 127.0.0.1:"));
  tiraid.signal(SIGHUP);
  CHECK(tiraid.wait_for_log("<6>info [daemon] reloaded"));
  CHECK(tiraid.stop() == 0);
}

TEST_CASE("service: without NOTIFY_SOCKET nothing is sent and nothing fails", "[e2e][service]") {
  Relay relay;
  CHECK(relay.daemon.log().find("watchdog") == std::string::npos);
  relay.daemon.signal(SIGHUP);
  CHECK(relay.daemon.wait_for_log("[daemon] reloaded"));
  CHECK(relay.daemon.stop() == 0);
}

}  // namespace tirai::test

namespace tirai::test {

TEST_CASE("service: tiraictl backup while messages flow, restored into a fresh tiraid, delivers every queued message",
          "[e2e][service][backup]") {
  Relay r("[policy]\nmessages_per_minute = 0\n");
  r.enrol("natasha");
  const auto b = r.book("natasha");
  // The client writes on while the talent is away: every message is queued.
  std::atomic<int> accepted{0};
  std::promise<void> fifty;
  std::string refused;
  std::thread client([&] {
    auto ws = r.client(b);
    for (int i = 1; i <= 300; ++i) {
      ws.send(send_frame(b, fmt::format("c{}", i), fmt::format("pesan nomor {}", i)));
      const auto f = parse(ws.receive());
      if (f.at("type") != "accepted") {
        refused = json::serialize(f);
        break;
      }
      if (++accepted == 50) fifty.set_value();
    }
  });
  fifty.get_future().wait();
  const int before = accepted;
  const auto backup = r.dir.path() / "backups" / "tirai-backup.db";
  std::filesystem::create_directories(backup.parent_path());
  const auto [status, out] =
      client::run_program(TIRAICTL_PATH, {"--config", r.daemon.config_file().string(), "backup", backup.string()});
  const int after = accepted;
  client.join();
  INFO(out);
  INFO(refused);
  REQUIRE(status == 0);
  CHECK_THAT(out, Catch::Contains("written to " + backup.string()));
  CHECK(accepted == 300);  // the relay took every message, before, while and after
  // One private file, and a second backup never overwrites the first.
  CHECK((std::filesystem::status(backup).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  CHECK(!std::filesystem::exists(backup.string() + "-wal"));
  CHECK(client::run_program(TIRAICTL_PATH, {"--config", r.daemon.config_file().string(), "backup", backup.string()})
            .first != 0);
  // The master key is not in it.
  std::string key, copy;
  {
    std::ifstream k(r.dir.path() / "secrets" / "master.key", std::ios::binary);
    key.assign(std::istreambuf_iterator<char>(k), {});
    std::ifstream c(backup, std::ios::binary);
    copy.assign(std::istreambuf_iterator<char>(c), {});
  }
  REQUIRE(key.size() >= 32);
  CHECK(copy.find(key.substr(0, 32)) == std::string::npos);
  CHECK(copy.find("pesan nomor") == std::string::npos);  // sealed as the database is

  // Restore: the backup as the database of a fresh tiraid with the same master key.
  TempDir fresh_dir;
  std::filesystem::create_directories(fresh_dir.path() / "data");
  std::filesystem::create_directories(fresh_dir.path() / "secrets");
  std::filesystem::copy_file(backup, fresh_dir.path() / "data" / "tirai.db");
  std::filesystem::copy_file(r.dir.path() / "secrets" / "master.key", fresh_dir.path() / "secrets" / "master.key");
  client::TiraidProcess restored(TIRAID_PATH, fresh_dir.path());
  restored.start();
  auto ws = restored.ws();
  ws.send(fmt::format(R"({{"type":"hello","role":"talent","alias":"natasha","secret":"{}"}})", secret));
  expect(ws, "welcome");
  // Every message accepted before the backup began, in order; perhaps some
  // accepted while it ran; none after it ended.
  const auto session = parse(restored.admin().request("GET", "/v1/sessions/" + sid(b)).body);
  INFO(json::serialize(session));
  const auto in_backup = static_cast<int>(session.at("messages").as_int64());
  int delivered = 0;
  while (delivered < in_backup) {
    auto f = parse(ws.receive());
    if (f.at("type") != "message") continue;
    ++delivered;
    CHECK(f.at("text").as_string() == fmt::format("pesan nomor {}", delivered));
    CHECK(f.at("seq") == delivered);
  }
  CHECK(delivered >= before);
  CHECK(delivered <= after);
}

}  // namespace tirai::test
