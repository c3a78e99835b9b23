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
