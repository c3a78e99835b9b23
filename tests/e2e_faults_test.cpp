// End to end: faults from outside the relay (docs/reliability.md), against
// the real tiraid.
#include "proto/timefmt.hpp"
#include "support/relay_fixture.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <variant>
#include <sqlite3.h>

using namespace tirai;
using namespace tirai::test;
namespace json = boost::json;

namespace {

// Debian's libfaketime (package libfaketime): tiraid's wall clock read
// through it, its monotonic clock left alone, as when NTP or an operator
// steps the system clock.
const std::filesystem::path libfaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

class FakeWallClock {
 public:
  explicit FakeWallClock(const std::filesystem::path& dir) : file_(dir / "faketime") { set("+0"); }

  // `spec` as libfaketime reads it, an offset from the real time ("+2h").
  // Written aside and renamed, so that tiraid never reads half a file.
  void set(std::string_view spec) {
    const auto tmp = file_.string() + ".new";
    std::ofstream(tmp) << spec << "\n";
    std::filesystem::rename(tmp, file_);
  }

  // env, then tiraid: the file is read at every clock call.
  std::vector<std::string> launcher() const {
    REQUIRE(std::filesystem::exists(libfaketime));
    const char* asan = std::getenv("ASAN_OPTIONS");
    return {"/usr/bin/env",
            "LD_PRELOAD=" + libfaketime.string(),
            "FAKETIME_TIMESTAMP_FILE=" + file_.string(),
            "FAKETIME_NO_CACHE=1",
            "FAKETIME_DONT_FAKE_MONOTONIC=1",
            // ASan wants to be first among the preloaded; it need not be.
            std::string("ASAN_OPTIONS=") + (asan ? std::string(asan) + ":" : "") + "verify_asan_link_order=0"};
  }

 private:
  std::filesystem::path file_;
};

proto::UnixMs expires_at(Relay& r, const json::object& b) {
  auto s = parse(r.call("GET", "/v1/sessions/" + sid(b)).body);
  INFO(json::serialize(s));
  REQUIRE(s["state"] != "closed");
  REQUIRE(s["state"] != "closing");
  auto t = proto::parse_rfc3339(s["expires_at"].as_string());
  REQUIRE(t);
  return *t;
}

}  // namespace

TEST_CASE("the system clock stepped hours forward, then back, ends no session, also across a restart",
          "[e2e][faults][clock]") {
  test::TempDir fake_dir;
  FakeWallClock wall(fake_dir.path());
  Relay r("", wall.launcher());
  r.enrol("natasha");
  const auto b = r.book("natasha");
  auto talent_ws = r.talent("natasha");
  auto client_ws = r.client(b);
  const auto booked_end = expires_at(r, b);

  // Two hours forward: the 30-minute session is not over.
  auto from = r.daemon.log_lines();
  wall.set("+2h");
  INFO(r.daemon.log());
  REQUIRE(r.daemon.wait_for_log("the system clock was stepped by +7200 s: 1 live sessions keep", from));
  client_ws.send(send_frame(b, "c1", "masih di sini kak"));
  CHECK(expect(client_ws, "accepted")["seq"] == 1);
  CHECK(expect(talent_ws, "message")["text"] == "masih di sini kak");
  // The step is measured between two clock reads a moment apart: to the millisecond or so.
  CHECK(std::abs(expires_at(r, b) - (booked_end + 2 * 3'600'000)) < 100);
  // Said once per step, not once per tick.
  const auto lines = r.daemon.lines(from);
  CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
          return l.find("system clock was stepped") != std::string::npos;
        }) == 1);

  // A restart on the stepped clock finds the session's end moved in the store.
  r.daemon.kill9();
  r.daemon.start_with(wall.launcher());
  const auto moved = expires_at(r, b);
  CHECK(std::abs(moved - (booked_end + 2 * 3'600'000)) < 100);
  talent_ws = r.talent("natasha");
  CHECK(expect(talent_ws, "message")["text"] == "masih di sini kak");
  talent_ws.send(fmt::format(R"({{"type":"ack","session":"{}","seq":1}})", sid(b)));
  client_ws = r.client(b);

  // Three hours back: the session does not run three hours longer either.
  from = r.daemon.log_lines();
  wall.set("-1h");
  REQUIRE(r.daemon.wait_for_log("the system clock was stepped by -10800 s", from));
  CHECK(std::abs(expires_at(r, b) - (moved - 3 * 3'600'000)) < 100);
  talent_ws.send(send_frame(b, "t1", "iya, halo"));
  CHECK(expect(talent_ws, "accepted")["seq"] == 2);
  CHECK(expect(client_ws, "message")["text"] == "iya, halo");
  auto metrics = r.call("GET", "/metrics");
  CHECK_THAT(metrics.body, Catch::Contains("tirai_clock_steps_total 1"));
}

namespace {

std::string file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// tiraid started on `r`'s config, expected to refuse: its exit status and output.
std::pair<int, std::string> start_refused(Relay& r) {
  return client::run_program(TIRAID_PATH, {"--config", r.daemon.config_file().string()});
}

}  // namespace

TEST_CASE("a database that is corrupt, not tirai's or in use stops the start with a clear message, and is left as it was",
          "[e2e][faults][store]") {
  Relay r;
  r.enrol("natasha");
  r.book("natasha");
  REQUIRE(r.daemon.stop() == 0);
  const auto db = r.daemon.db_file();
  const auto wal = std::filesystem::path(db.string() + "-wal");

  SECTION("pages overwritten with garbage") {
    {
      std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(100);
      const std::string garbage(4000, '\x5a');
      f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
    }
    const auto before = file_bytes(db);
    const auto [status, out] = start_refused(r);
    CHECK(status == 1);
    CHECK_THAT(out, Catch::Contains("tiraid: cannot start: sqlite:") && Catch::Contains("malformed"));
    CHECK(file_bytes(db) == before);
  }
  SECTION("not a database at all") {
    std::filesystem::remove(wal);
    std::ofstream(db, std::ios::binary | std::ios::trunc) << std::string(8192, '\x01');
    const auto [status, out] = start_refused(r);
    CHECK(status == 1);
    CHECK_THAT(out, Catch::Contains("tiraid: cannot start: sqlite:") && Catch::Contains("not a database"));
    CHECK(file_bytes(db) == std::string(8192, '\x01'));
  }
  SECTION("another application's database") {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
    REQUIRE(sqlite3_exec(h, "PRAGMA application_id = 42", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(h);
    const auto before = file_bytes(db);
    const auto [status, out] = start_refused(r);
    CHECK(status == 1);
    CHECK_THAT(out, Catch::Contains("not a tirai database"));
    CHECK(file_bytes(db) == before);
  }
  SECTION("another tiraid on the same database") {
    r.daemon.start();
    const auto [status, out] = start_refused(r);
    CHECK(status == 1);
    CHECK_THAT(out, Catch::Contains("is in use by another tiraid"));
    // The first one goes on.
    CHECK(r.call("GET", "/v1/health").status == 200);
  }
  SECTION("another program holding SQLite's exclusive lock") {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
    // A write (of the schema version it has) takes the lock, and exclusive
    // locking mode keeps it until the connection closes.
    int version = -1;
    REQUIRE(sqlite3_exec(
                h, "PRAGMA user_version",
                [](void* v, int, char** cols, char**) {
                  *static_cast<int*>(v) = std::atoi(cols[0]);
                  return 0;
                },
                &version, nullptr) == SQLITE_OK);
    REQUIRE(version > 0);
    const auto hold = fmt::format("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; PRAGMA user_version = {}; COMMIT;", version);
    REQUIRE(sqlite3_exec(h, hold.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    const auto [status, out] = start_refused(r);
    sqlite3_close(h);
    CHECK(status == 1);
    CHECK_THAT(out, Catch::Contains("tiraid: cannot start: sqlite:") && Catch::Contains("locked"));
  }
}

namespace {

// Fills the filesystem holding `file` until it has no room left; the bytes written.
std::size_t fill_disk(const std::filesystem::path& file) {
  std::FILE* f = std::fopen(file.c_str(), "wb");
  REQUIRE(f);
  std::setvbuf(f, nullptr, _IONBF, 0);
  const std::string chunk(4096, 'x');
  std::size_t written = 0;
  while (std::fwrite(chunk.data(), 1, chunk.size(), f) == chunk.size()) written += chunk.size();
  std::fclose(f);
  return written;
}

// Sends `text` as `id` from `ws`; the `accepted` seq, or the error code.
std::variant<std::int64_t, std::string> send_and_wait(WsClient& ws, const json::object& b, const std::string& id,
                                                     const std::string& text) {
  ws.send(send_frame(b, id, text));
  for (;;) {
    auto f = parse(ws.receive());
    if (f["type"] == "accepted" && str(f["id"]) == id) return f["seq"].as_int64();
    if (f["type"] == "error" && f["id"].is_string() && str(f["id"]) == id) return str(f["code"]);
  }
}

}  // namespace

// The disk fills up under load: the store's folder is a 2 MiB tmpfs of
// tiraid's own (a mount namespace made for it), filled by the test through
// /proc/PID/root. Sends then get `internal` and never `accepted`; nothing
// accepted before is lost; once space returns, the same sends are accepted
// and everything reaches the peer, in order, once. No restart is needed.
TEST_CASE("the disk full under load: sends refused, none accepted unstored, nothing lost, back by itself",
          "[e2e][faults]") {
  test::TempDir dir;
  const auto data = dir.path() / "data";
  std::filesystem::create_directories(data);
  client::TiraidProcess d(TIRAID_PATH, dir.path(), "[policy]\nmessages_per_minute = 0\n[log]\nlevel = \"debug\"\n");
  d.start_with({"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
                "mount -t tmpfs -o size=2m tirai-test-disk \"$0\" && exec \"$@\"", data.string()});
  const client::AdminClient admin = d.admin();
  REQUIRE(admin.request("POST", "/v1/talents", R"({"alias":"natasha","secret":"natasha-secret-0123456789"})").status == 201);
  const auto booked = admin.request("POST", "/v1/sessions", R"({"talent":"natasha","client":"+6281234567890","package":"chat-30m"})");
  REQUIRE(booked.status == 201);
  const auto b = parse(booked.body);
  auto talent = d.ws();
  talent.send(R"({"type":"hello","role":"talent","alias":"natasha","secret":"natasha-secret-0123456789"})");
  expect(talent, "welcome");
  auto client = d.ws();
  client.send(fmt::format(R"({{"type":"hello","role":"client","token":"{}"}})", b.at("client_token").as_string()));
  expect(client, "welcome");
  // Texts of 4,000 characters: the WAL must grow for each.
  const auto text = [](int i) { return fmt::format("{:04} {}", i, std::string(3995, 'a' + i % 26)); };
  std::map<std::string, std::int64_t> accepted;  // id -> seq
  for (int i = 0; i < 5; ++i) accepted[fmt::format("m{}", i)] = std::get<std::int64_t>(send_and_wait(client, b, fmt::format("m{}", i), text(i)));
  const auto filler = std::filesystem::path(fmt::format("/proc/{}/root", d.pid())) / data.relative_path() / "filler";
  const auto from = d.log_lines();
  REQUIRE(fill_disk(filler) > 0);
  std::vector<std::string> refused;
  for (int i = 5; i < 200 && refused.size() < 5; ++i) {
    const auto id = fmt::format("m{}", i);
    const auto r = send_and_wait(client, b, id, text(i));
    if (const auto* seq = std::get_if<std::int64_t>(&r)) accepted[id] = *seq;
    else {
      CHECK(std::get<std::string>(r) == "internal");
      refused.push_back(id);
    }
  }
  REQUIRE(refused.size() == 5);
  CHECK(d.wait_for_log("[store] the disk is full", from));
  // Space returns: the refused sends, sent again with their ids, are taken.
  std::filesystem::remove(filler);
  for (const auto& id : refused) {
    const auto r = send_and_wait(client, b, id, text(std::stoi(id.substr(1))));
    REQUIRE(std::holds_alternative<std::int64_t>(r));
    accepted[id] = std::get<std::int64_t>(r);
  }
  CHECK(d.wait_for_log("[store] the disk has room again", from));
  // The talent has every accepted message, in seq order, each once, and no other.
  std::map<std::int64_t, std::string> expected;
  for (const auto& [id, seq] : accepted) expected[seq] = text(std::stoi(id.substr(1)));
  std::int64_t last = 0;
  for (std::size_t n = 0; n < expected.size();) {
    auto f = parse(talent.receive());
    if (f["type"] != "message") continue;
    const auto seq = f["seq"].as_int64();
    INFO("seq " << seq);
    CHECK(seq > last);
    last = seq;
    REQUIRE(expected.contains(seq));
    CHECK(str(f["text"]) == expected[seq]);
    talent.send(fmt::format(R"({{"type":"ack","session":"{}","seq":{}}})", sid(b), seq));
    ++n;
  }
  const auto log = d.log();
  std::size_t full = 0;
  for (auto at = log.find("[store] the disk is full"); at != std::string::npos; at = log.find("[store] the disk is full", at + 1)) ++full;
  CHECK(full == 1);
}
