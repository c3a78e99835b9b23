// Privacy end to end: erasure, encryption at rest, key rotation and the
// absence of an existence oracle, checked on the raw files of a real tiraid.
#include "support/relay_fixture.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

using namespace tirai;
using namespace tirai::test;

namespace {

// Reads one blob from the daemon's database through a separate read-only
// connection, closed before returning so that it cannot hold back a checkpoint.
std::string read_blob(const std::filesystem::path& db, const std::string& sql, const std::string& param) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
  sqlite3_bind_text(st, 1, param.c_str(), -1, SQLITE_TRANSIENT);
  std::string out;
  if (sqlite3_step(st) == SQLITE_ROW)
    out.assign(static_cast<const char*>(sqlite3_column_blob(st, 0)), static_cast<std::size_t>(sqlite3_column_bytes(st, 0)));
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

// Every file of the relay that could hold a trace: database, WAL, log.
std::vector<std::filesystem::path> relay_files(const Relay& r) {
  std::vector<std::filesystem::path> out{r.daemon.log_file()};
  for (const auto& f : std::filesystem::directory_iterator(r.daemon.db_file().parent_path())) out.push_back(f.path());
  return out;
}

void check_absent(const Relay& r, std::string_view what, const std::string& bytes) {
  REQUIRE(bytes.size() >= 8);
  for (const auto& f : relay_files(r)) {
    INFO(what << " in " << f);
    CHECK_FALSE(file_contains(f, bytes));
  }
}

}  // namespace

TEST_CASE("erasing a client: the talent is told, and no trace of the number stays on disk", "[e2e][privacy]") {
  const std::string canary = "+6289912340001";
  Relay r("[log]\nlevel = \"trace\"\n");
  r.enrol("natasha");
  auto talent_ws = r.talent("natasha");
  const auto b = r.book("natasha", canary);
  expect(talent_ws, "session");
  auto client_ws = r.client(b);
  client_ws.send(send_frame(b, "c1", "halo"));
  expect(client_ws, "accepted");
  expect(talent_ws, "message");

  constexpr auto by_session = "SELECT {} FROM clients WHERE id = (SELECT client_id FROM sessions WHERE id = ?)";
  const auto blind = read_blob(r.daemon.db_file(), fmt::format(by_session, "blind_index"), sid(b));
  const auto number_ct = read_blob(r.daemon.db_file(), fmt::format(by_session, "number_ct"), sid(b));
  const auto person_key = read_blob(r.daemon.db_file(), fmt::format(by_session, "person_key"), sid(b));
  REQUIRE(blind.size() == 32);

  auto erased = r.call("POST", "/v1/clients/erase", json::object{{"client", canary}});
  CHECK(erased.status == 200);
  auto closed = expect(talent_ws, "session");
  CHECK(closed["state"] == "closed");
  CHECK(closed["reason"] == "client_erased");
  CHECK(expect(client_ws, "session")["reason"] == "client_erased");
  CHECK(client_ws.wait_closed() == 1000);
  talent_ws.send(send_frame(b, "t1", "halo?"));
  CHECK(expect(talent_ws, "error")["code"] == "not_in_session");
  // Erasing a number nobody knows answers the same: no oracle.
  CHECK(r.call("POST", "/v1/clients/erase", json::object{{"client", "+6280000000000"}}).body == erased.body);
  CHECK(r.call("GET", "/v1/sessions/" + sid(b)).status == 404);
  CHECK(r.daemon.stop() == 0);

  check_absent(r, "the number", canary.substr(1));
  check_absent(r, "the blind index", blind);
  check_absent(r, "the sealed number", number_ct);
  check_absent(r, "the person key", person_key);
}

TEST_CASE("erasing a talent ends their sessions, and their alias can never be enrolled again", "[e2e][privacy]") {
  Relay r;
  r.enrol("natasha");
  auto talent_ws = r.talent("natasha");
  const auto b = r.book("natasha");
  expect(talent_ws, "session");
  auto client_ws = r.client(b);
  CHECK(r.call("DELETE", "/v1/talents/natasha").status == 204);
  auto closed = expect(client_ws, "session");
  CHECK(closed["reason"] == "talent_removed");
  CHECK(client_ws.wait_closed() == 1000);
  CHECK(talent_ws.wait_closed() == 1008);
  auto again = r.call("POST", "/v1/talents", json::object{{"alias", "natasha"}, {"secret", "a brand new secret"}});
  CHECK(again.status == 409);
  CHECK(parse(again.body)["error"] == "alias_taken");
  CHECK(r.daemon.stop() == 0);
  for (const auto& f : relay_files(r)) {
    if (f == r.daemon.log_file()) continue;  // the log names aliases by design
    INFO(f);
    CHECK_FALSE(file_contains(f, "natasha"));
  }
}

TEST_CASE("removing a talent leaves neither the alias nor its hash in the database or its WAL, at once",
          "[e2e][privacy]") {
  Relay r;
  const std::string alias = "canary-talent-7f3k";
  r.enrol(alias);
  const auto hash = read_blob(r.daemon.db_file(), "SELECT secret_hash FROM talents WHERE alias = ?", alias);
  REQUIRE(hash.starts_with("$argon2id$"));
  CHECK(r.call("DELETE", "/v1/talents/" + alias).status == 204);
  // While the relay runs: the answer came after the WAL was truncated.
  for (const auto& f : relay_files(r)) {
    if (f == r.daemon.log_file()) continue;  // the log names aliases by design
    INFO(f);
    CHECK_FALSE(file_contains(f, alias));
    CHECK_FALSE(file_contains(f, hash));
  }
}

TEST_CASE("erase, verify and restrict take as long for a client as for a number never seen", "[e2e][privacy]") {
  Relay r;
  r.enrol("natasha");
  // Times each call; every answer must come no sooner than the relay's
  // fixed answer time (250 ms), known client or not, so that its time
  // cannot tell them apart (unpadded: ~1.5 ms for a client, ~0.6 ms for none).
  const auto timed = [&](std::string_view target, const json::object& body) {
    const auto start = std::chrono::steady_clock::now();
    auto res = r.call("POST", target, body);
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE(res.status == 200);
    return std::pair{took, res.body};
  };
  for (int round = 0; round < 3; ++round) {
    const std::string known = fmt::format("+628991234000{}", round);
    const std::string unknown = fmt::format("+628997654000{}", round);
    r.book("natasha", known);
    for (const auto& [target, extra] : {std::pair{"/v1/clients/verify", json::object{{"method", "ktp_selfie"}}},
                                        std::pair{"/v1/clients/restrict", json::object{{"restricted", false}}},
                                        std::pair{"/v1/clients/erase", json::object{}}}) {
      json::object a = extra, b = extra;
      a["client"] = known;
      b["client"] = unknown;
      const auto [known_took, known_body] = timed(target, a);
      const auto [unknown_took, unknown_body] = timed(target, b);
      INFO(target);
      CHECK(known_took >= std::chrono::milliseconds(250));
      CHECK(unknown_took >= std::chrono::milliseconds(250));
      CHECK(known_body == unknown_body);
    }
  }
  // verify and restrict of a number never seen create that client (documented):
  // lookup then shows the flag, as it would for a booked one.
  json::object v{{"client", "+628990000777"}, {"method", "ktp_selfie"}};
  REQUIRE(r.call("POST", "/v1/clients/verify", v).status == 200);
  CHECK(parse(r.call("POST", "/v1/clients/lookup", json::object{{"client", "+628990000777"}}).body)["verified"] == true);
}

namespace {
// How many times `needle` occurs in the writable memory of process `pid`
// (heap, stacks, anonymous mappings), read through /proc/PID/mem.
std::size_t occurrences_in_memory(pid_t pid, std::string_view needle) {
  std::ifstream maps(fmt::format("/proc/{}/maps", pid));
  const int mem = ::open(fmt::format("/proc/{}/mem", pid).c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(mem >= 0);
  std::size_t found = 0;
  std::string line;
  while (std::getline(maps, line)) {
    std::uint64_t begin = 0, end = 0;
    char perms[8] = {};
    if (std::sscanf(line.c_str(), "%lx-%lx %7s", &begin, &end, perms) != 3 || perms[0] != 'r' || perms[1] != 'w') continue;
    // A sanitizer's shadow memory (terabytes reserved) holds no data of ours.
    if (end - begin > (std::uint64_t{1} << 32)) continue;
    // Read in pieces that overlap by the needle's length.
    constexpr std::uint64_t piece = 1 << 20;
    std::string chunk;
    for (std::uint64_t at = begin; at < end; at += piece) {
      chunk.resize(static_cast<std::size_t>(std::min<std::uint64_t>(piece + needle.size(), end - at)));
      const auto n = ::pread(mem, chunk.data(), chunk.size(), static_cast<off_t>(at));
      if (n <= 0) break;
      chunk.resize(static_cast<std::size_t>(n));
      for (auto p = chunk.find(needle); p != std::string::npos && p < piece; p = chunk.find(needle, p + 1)) ++found;
    }
  }
  ::close(mem);
  return found;
}
}  // namespace

TEST_CASE("a number booked, looked up and erased through the admin API leaves no copy in tiraid's memory",
          "[e2e][privacy]") {
  const std::string canary = "+6289955501234";
  Relay r;
  r.enrol("natasha");
  r.book("natasha", canary);
  CHECK(r.call("POST", "/v1/clients/lookup", json::object{{"client", canary}}).status == 200);
  CHECK(r.call("POST", "/v1/clients/verify", json::object{{"client", canary}, {"method", "ktp_selfie"}}).status == 200);
  CHECK(r.call("POST", "/v1/clients/erase", json::object{{"client", canary}}).status == 200);
  CHECK(occurrences_in_memory(r.daemon.pid(), canary.substr(1)) == 0);
  // A talent's secret at enrolment. (Her hellos leave one copy, in Beast's
  // WebSocket read buffer, until later frames overwrite it: docs/privacy.md.)
  const std::string canary_secret = "CANARY-secret-5b7e-ok";
  REQUIRE(r.call("POST", "/v1/talents", json::object{{"alias", "bella"}, {"secret", canary_secret}}).status == 201);
  CHECK(occurrences_in_memory(r.daemon.pid(), "CANARY-secret-5b7e") == 0);
}

TEST_CASE("a queued canary text is sealed while queued and gone after teardown", "[e2e][privacy]") {
  const std::string canary_text = "CANARY-queued-5e2b";
  Relay r("[sessions]\ngrace = \"0s\"\n");
  r.enrol("natasha");
  const auto b = r.book("natasha");
  auto client_ws = r.client(b);
  client_ws.send(send_frame(b, "c1", canary_text));  // the talent is offline: it stays queued
  expect(client_ws, "accepted");
  const auto sealed = read_blob(r.daemon.db_file(), "SELECT body FROM messages WHERE session_id = ?", sid(b));
  REQUIRE(sealed.size() > canary_text.size());
  for (const auto& f : relay_files(r)) CHECK_FALSE(file_contains(f, canary_text));

  client_ws.send(fmt::format(R"({{"type":"end","session":"{}"}})", sid(b)));
  CHECK(expect(client_ws, "session")["state"] == "closed");
  CHECK(r.daemon.stop() == 0);
  check_absent(r, "the sealed body", sealed);
  for (const auto& f : relay_files(r)) CHECK_FALSE(file_contains(f, canary_text));
}

TEST_CASE("master key rotation: the old key opens nothing, lookups and replay work under the new one",
          "[e2e][privacy]") {
  const std::string number = "+6281234500001";
  Relay r;
  r.enrol("natasha");
  const auto b = r.book("natasha", number);
  {
    auto client_ws = r.client(b);
    client_ws.send(send_frame(b, "c1", "sebelum rotasi"));
    expect(client_ws, "accepted");
  }
  CHECK(r.daemon.stop() == 0);

  const auto secrets = r.dir.path() / "secrets";
  const auto cfg = r.daemon.config_file().string();
  auto [rotated, rotate_out] =
      client::run_program(TIRAID_PATH, {"--config", cfg, "--rotate-master-key", (secrets / "new.key").string()});
  INFO(rotate_out);
  REQUIRE(rotated == 0);
  auto [refused, refused_out] = client::run_program(TIRAID_PATH, {"--config", cfg});
  CHECK(refused == 1);
  CHECK_THAT(refused_out, Catch::Contains("master key does not open this database"));

  std::filesystem::rename(secrets / "new.key", secrets / "master.key");
  r.daemon.start();
  auto talent_ws = r.talent("natasha");
  CHECK(expect(talent_ws, "message")["text"] == "sebelum rotasi");
  // The blind index was recomputed: erasure by number still finds the client.
  CHECK(r.call("POST", "/v1/clients/erase", json::object{{"client", number}}).status == 200);
  CHECK(expect(talent_ws, "session")["reason"] == "client_erased");
}

TEST_CASE("an unknown alias costs what a wrong secret costs", "[e2e][privacy]") {
  Relay r("[policy]\nlogin_attempts_per_minute = 0\n");  // measure the hash, not the rate limit
  r.enrol("natasha");
  using clock = std::chrono::steady_clock;
  auto hello_time = [&](std::string_view alias, std::string_view secret_text, std::string& answer) {
    auto ws = r.daemon.ws();
    const auto start = clock::now();
    ws.send(fmt::format(R"({{"type":"hello","role":"talent","alias":"{}","secret":"{}"}})", alias, secret_text));
    answer = ws.receive();
    return std::chrono::duration<double, std::milli>(clock::now() - start).count();
  };
  std::vector<double> unknown, wrong;
  std::string a, b;
  for (int i = 0; i < 50; ++i) {  // interleaved, so drift hits both alike
    unknown.push_back(hello_time("nobody-here", "whatever secret", a));
    wrong.push_back(hello_time("natasha", "wrong horse battery", b));
    REQUIRE(a == b);
  }
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  const double mu = median(unknown), mw = median(wrong);
  WARN(fmt::format("hello medians over 50 tries: unknown alias {:.2f} ms, wrong secret {:.2f} ms", mu, mw));
  CHECK(mu >= 0.75 * mw);
  CHECK(mu <= 1.25 * mw);
}

namespace {
// A self-signed certificate for 127.0.0.1, made by the openssl command line.
void make_certificate(const std::filesystem::path& dir) {
  auto [rc, out] = client::run_program(
      "/usr/bin/openssl", {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                           "-keyout", (dir / "key.pem").string(), "-out", (dir / "cert.pem").string(), "-days", "2",
                           "-subj", "/CN=tirai-test", "-addext", "subjectAltName=IP:127.0.0.1"});
  INFO(out);
  REQUIRE(rc == 0);
}
}  // namespace

TEST_CASE("TLS: wss and https round trips, clear text to the TLS port fails cleanly", "[e2e][privacy][tls]") {
  TempDir certs;
  make_certificate(certs.path());
  const auto ca = (certs.path() / "cert.pem").string();
  Relay r(fmt::format("[tls]\ncert = \"{}\"\nkey = \"{}\"\n", ca, (certs.path() / "key.pem").string()));
  REQUIRE(r.daemon.wait_for_log("listening on wss://"));
  const client::Tls tls{true, ca};
  std::string token;
  std::ifstream(r.dir.path() / "secrets" / "admin.token") >> token;
  client::AdminClient admin("127.0.0.1", r.daemon.admin_port(), token, std::chrono::seconds(10), tls);
  CHECK(admin.request("POST", "/v1/talents", json::serialize(json::object{{"alias", "natasha"}, {"secret", secret}}))
            .status == 201);
  auto booked = admin.request("POST", "/v1/sessions",
                              json::serialize(json::object{{"talent", "natasha"}, {"client", "+6281234567890"},
                                                           {"package", "chat-30m"}}));
  REQUIRE(booked.status == 201);
  const auto b = parse(booked.body);

  WsClient talent_ws("127.0.0.1", r.daemon.relay_port(), std::chrono::seconds(10), "/v1/ws", tls);
  talent_ws.send(fmt::format(R"({{"type":"hello","role":"talent","alias":"natasha","secret":"{}"}})", secret));
  expect(talent_ws, "welcome");
  WsClient client_ws("127.0.0.1", r.daemon.relay_port(), std::chrono::seconds(10), "/v1/ws", tls);
  client_ws.send(fmt::format(R"({{"type":"hello","role":"client","token":"{}"}})", b.at("client_token").as_string()));
  expect(client_ws, "welcome");
  client_ws.send(send_frame(b, "c1", "lewat TLS"));
  expect(client_ws, "accepted");
  CHECK(expect(talent_ws, "message")["text"] == "lewat TLS");

  // Clear text to the TLS ports fails, and the relay keeps serving.
  CHECK_THROWS_AS(WsClient("127.0.0.1", r.daemon.relay_port(), std::chrono::seconds(5)), client::ClientError);
  CHECK_THROWS_AS(client::AdminClient("127.0.0.1", r.daemon.admin_port(), token, std::chrono::seconds(5))
                      .request("GET", "/v1/health"),
                  client::ClientError);
  // A certificate the client does not trust is refused.
  CHECK_THROWS_AS(WsClient("127.0.0.1", r.daemon.relay_port(), std::chrono::seconds(5), "/v1/ws", client::Tls{true, {}}),
                  client::ClientError);
  client_ws.send(send_frame(b, "c2", "masih jalan"));
  expect(client_ws, "accepted");
  // The closing handshakes over TLS, both ways: the relay's (ten bad frames
  // in a row), and on a frame over max_frame_bytes.
  WsClient bad("127.0.0.1", r.daemon.relay_port(), std::chrono::seconds(10), "/v1/ws", tls);
  for (int i = 0; i < 10; ++i) bad.send("nope");
  CHECK(bad.wait_closed() == 1008);
  WsClient big("127.0.0.1", r.daemon.relay_port(), std::chrono::seconds(10), "/v1/ws", tls);
  big.send(std::string(20'000, 'x'));
  CHECK(big.wait_closed() == 1009);
  client_ws.send(send_frame(b, "c3", "masih jalan"));
  expect(client_ws, "accepted");

  // tiraictl speaks https with --cacert.
  const auto ctl_cfg = (r.dir.path() / "ctl.toml").string();
  std::ofstream(ctl_cfg) << fmt::format(
      "[admin]\nlisten = \"127.0.0.1:{}\"\ntoken_file = \"secrets/admin.token\"\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
      r.daemon.admin_port(), ca, (certs.path() / "key.pem").string());
  auto [rc, out] = client::run_program(TIRAICTL_PATH, {"--config", ctl_cfg, "--cacert", ca, "talent", "list"});
  INFO(out);
  CHECK(rc == 0);
  CHECK_THAT(out, Catch::Contains("natasha"));
}

TEST_CASE("without TLS, a listener on a non-loopback address is refused", "[e2e][privacy][tls]") {
  TempDir dir;
  const auto cfg = dir.path() / "open.toml";
  std::ofstream(cfg) << "[relay]\nlisten = \"0.0.0.0:0\"\npublic_url = \"http://chat.example.com\"\n[admin]\nlisten = \"127.0.0.1:0\"\n";
  auto [rc, out] = client::run_program(TIRAID_PATH, {"--config", cfg.string()});
  CHECK(rc == 2);
  CHECK_THAT(out, Catch::Contains("relay.listen: 0.0.0.0 is not a loopback address"));
}

namespace {

// Writes `text` to `file` with exactly `mode` (whatever the umask).
void write_with_mode(const std::filesystem::path& file, std::string_view text, std::filesystem::perms mode) {
  std::filesystem::create_directories(file.parent_path());
  std::ofstream(file, std::ios::trunc) << text;
  std::filesystem::permissions(file, mode);
}

constexpr auto mode_600 = std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;
constexpr auto mode_640 = mode_600 | std::filesystem::perms::group_read;
constexpr auto mode_644 = mode_640 | std::filesystem::perms::others_read;

unsigned mode_of(const std::filesystem::path& file) {
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Starts tiraid on `d`'s config, which must refuse to start; returns its exit status.
int refused_start(client::TiraidProcess& d) {
  try {
    d.start();
  } catch (const std::runtime_error&) {
    return d.stop();
  }
  FAIL("tiraid started:\n" << d.log());
  return 0;
}

}  // namespace

TEST_CASE("tiraid --init writes the new config 0600 in a folder of its own", "[e2e][privacy][config]") {
  TempDir dir;
  const auto cfg = dir.path() / "etc" / "tiraid.toml";
  // With --rotate-master-key, tiraid stops right after writing and reading
  // the config (there is no master key to rotate yet): no listener is opened
  // on the example's fixed ports.
  auto [rc, out] = client::run_program(
      TIRAID_PATH, {"--init", "--config", cfg.string(), "--rotate-master-key", (dir.path() / "new.key").string()});
  INFO(out);
  CHECK_THAT(out, Catch::Contains("wrote a new config"));
  CHECK(rc == 1);
  CHECK(mode_of(cfg) == 0600);
  CHECK(mode_of(cfg.parent_path()) == 0700);
}

TEST_CASE("an admin token file readable by group or others stops the start", "[e2e][privacy][config]") {
  TempDir dir;
  client::TiraidProcess d(TIRAID_PATH, dir.path());
  const auto token = dir.path() / "secrets" / "admin.token";
  write_with_mode(token, "0123456789abcdef0123456789abcdef\n", mode_640);
  CHECK(refused_start(d) == 1);
  const auto log = d.log();
  CHECK_THAT(log, Catch::Contains(token.string()) && Catch::Contains("chmod 600"));
  CHECK_FALSE(file_contains(d.log_file(), "0123456789abcdef"));

  std::filesystem::permissions(token, mode_600);
  d.start();
  CHECK(d.stop() == 0);
}

TEST_CASE("a tls.key readable by group or others stops the start", "[e2e][privacy][tls][config]") {
  TempDir certs;
  make_certificate(certs.path());
  const auto key = certs.path() / "key.pem";
  std::filesystem::permissions(key, mode_644);
  TempDir dir;
  client::TiraidProcess d(
      TIRAID_PATH, dir.path(),
      fmt::format("[tls]\ncert = \"{}\"\nkey = \"{}\"\n", (certs.path() / "cert.pem").string(), key.string()));
  CHECK(refused_start(d) == 1);
  CHECK_THAT(d.log(), Catch::Contains(key.string()) && Catch::Contains("chmod 600"));

  std::filesystem::permissions(key, mode_600);
  d.start();
  CHECK(d.stop() == 0);
}

TEST_CASE("a config file holding a secret and readable by others stops the start, without one it warns",
          "[e2e][privacy][config]") {
  TempDir dir;
  client::TiraidProcess d(TIRAID_PATH, dir.path(), "[sms]\npassword = \"canary-kannel-pw-7731\"\n");
  std::filesystem::permissions(d.config_file(), mode_644);
  CHECK(refused_start(d) == 1);
  CHECK_THAT(d.log(), Catch::Contains(d.config_file().string()) && Catch::Contains("chmod 600") &&
                          Catch::Contains("sms.password"));
  CHECK_FALSE(file_contains(d.log_file(), "canary-kannel-pw"));

  // Readable by the group only: it starts, with a warning.
  std::filesystem::permissions(d.config_file(), mode_640);
  d.start();
  CHECK(d.wait_for_log("readable by group or others"));
  CHECK(d.stop() == 0);

  // No secret in it: readable by anyone starts, with a warning.
  TempDir plain_dir;
  client::TiraidProcess plain(TIRAID_PATH, plain_dir.path());
  std::filesystem::permissions(plain.config_file(), mode_644);
  plain.start();
  CHECK(plain.wait_for_log("readable by group or others"));
  CHECK(plain.stop() == 0);
}

TEST_CASE("sms.sendsms_url is logged without its query, credentials in its authority are refused",
          "[e2e][privacy][sms]") {
  const auto sms = [](std::string_view url) {
    return fmt::format(
        "[sms]\nenabled = true\nlisten = \"127.0.0.1:0\"\ninbound_secret = \"kannel-to-tirai-0123456789\"\n"
        "sendsms_url = \"{}\"\nusername = \"tirai\"\npassword = \"kannel-pw\"\nproxy_numbers = [\"+6281100000001\"]\n"
        "[log]\nlevel = \"trace\"\n",
        url);
  };
  {
    Relay r(sms("http://127.0.0.1:9/cgi-bin/sendsms?smsc=telkomsel&password=CANARY-query-5521"));
    CHECK(r.daemon.stop() == 0);
    const auto log = r.daemon.log();
    CHECK_THAT(log, Catch::Contains("sending through http://127.0.0.1:9/cgi-bin/sendsms?[query hidden]"));
    CHECK_FALSE(file_contains(r.daemon.log_file(), "CANARY-query"));
    CHECK_FALSE(file_contains(r.daemon.log_file(), "telkomsel"));
  }
  for (const auto* url : {"http://CANARY-user-6632@127.0.0.1:9/cgi-bin/sendsms",
                          "http://tirai:CANARY-pass-7743@127.0.0.1:9/cgi-bin/sendsms"}) {
    INFO(url);
    TempDir dir;
    client::TiraidProcess d(TIRAID_PATH, dir.path(), sms(url));
    CHECK(refused_start(d) == 2);
    CHECK_THAT(d.log(), Catch::Contains("sms.sendsms_url"));
    CHECK_FALSE(file_contains(d.log_file(), "CANARY-"));
  }
}

TEST_CASE("a number typed into a request path leaves no trace in the log, at trace level", "[e2e][privacy]") {
  const std::string digits = "81234567890";
  Relay r("[sms]\nenabled = true\nlisten = \"127.0.0.1:0\"\ninbound_secret = \"kannel-to-tirai-0123456789\"\n"
          "sendsms_url = \"http://127.0.0.1:9/cgi-bin/sendsms\"\nusername = \"tirai\"\npassword = \"kannel-pw\"\n"
          "proxy_numbers = [\"+6281100000001\"]\n[log]\nlevel = \"trace\"\n");
  r.enrol("natasha");
  // What an operator might type by mistake; each answer is an error.
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/sessions/+6" + digits},
           {"GET", "/v1/sessions/%2B6" + digits},
           {"POST", "/v1/sessions/+6" + digits + "/end"},
           {"DELETE", "/v1/talents/+6" + digits},
           {"POST", "/v1/clients/+6" + digits},
           {"GET", "/+6" + digits}}) {
    INFO(method << " " << path);
    CHECK(r.call(method, path).status >= 400);
  }
  client::AdminClient sms("127.0.0.1", r.daemon.sms_port(), "no-token-here");
  CHECK(sms.request("GET", "/v1/sms/+6" + digits).status == 404);
  CHECK(sms.request("GET", "/+6" + digits + "?from=x").status == 404);
  // The last request's line comes after every other one.
  CHECK(r.call("GET", "/v1/health").status == 200);
  REQUIRE(r.daemon.wait_for_log("GET /v1/health -> 200"));
  CHECK_THAT(r.daemon.log(), Catch::Contains("GET /v1/sessions/") && Catch::Contains("-> 404"));
  CHECK_FALSE(file_contains(r.daemon.log_file(), digits));
}

TEST_CASE("an acknowledged message's sealed body leaves every file within a second, the session still live",
          "[e2e][privacy]") {
  const std::string text = "CANARY-acked-7c41";
  Relay r("[log]\nlevel = \"debug\"\n");
  r.enrol("natasha");
  auto talent_ws = r.talent("natasha");
  const auto b = r.book("natasha");
  expect(talent_ws, "session");
  auto client_ws = r.client(b);
  client_ws.send(send_frame(b, "c1", text));
  expect(client_ws, "accepted");
  const auto m = expect(talent_ws, "message");
  CHECK(m.at("text").as_string() == text);
  // Read (and the connection closed) before the ack: an open reader would
  // hold back the truncation.
  const auto sealed = read_blob(r.daemon.db_file(), "SELECT body FROM messages WHERE session_id = ?", sid(b));
  REQUIRE(sealed.size() > text.size());
  const auto from = r.daemon.log_lines();
  talent_ws.send(json::serialize(json::object{{"type", "ack"}, {"session", b.at("session")}, {"seq", m.at("seq")}}));
  // The body is cleared a moment after the ack, and the WAL truncated
  // within a second of that.
  CHECK(r.daemon.wait_for_log("[store] WAL truncated after clearing", from, std::chrono::seconds(10)));
  check_absent(r, "the sealed body", sealed);
  for (const auto& f : relay_files(r)) CHECK_FALSE(file_contains(f, text));
  // The session lives on.
  talent_ws.send(send_frame(b, "t1", "masih di sini"));
  CHECK(expect(talent_ws, "accepted")["seq"] == 2);
  CHECK(expect(client_ws, "message")["text"] == "masih di sini");
}
