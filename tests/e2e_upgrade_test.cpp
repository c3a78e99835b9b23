// Upgrades (issue "Install it like a Debian daemon"): databases made by
// every older schema this project shipped, opened by this build.
//
// tests/data/schemas/vN/ holds a tirai.db and master.key that the tiraid of
// the last commit with schema N made through its own APIs, and fixture.json
// saying what is inside (see its README; tools/make-schema-fixtures.sh
// remakes them). Each test starts this build's tiraid on a copy and checks
// through the admin API and the WebSocket protocol that nothing was lost.
// Their sessions were booked on a package of ten years: expiry is wall-clock
// time (booked_at + duration), so they are live until about 2036.
#include "support/relay_fixture.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <vector>

using namespace tirai;
using namespace tirai::test;

namespace {

namespace fs = std::filesystem;

const fs::path schemas = fs::path(TIRAI_TEST_DATA) / "schemas";

// PRAGMA user_version of `db`, through a connection closed before returning
// (tiraid may be running on it: WAL lets both read). Read-only while tiraid
// runs; otherwise read-write, so that closing it removes the -wal and -shm
// files it made.
std::int64_t user_version(const fs::path& db, int flags = SQLITE_OPEN_READONLY) {
  sqlite3* h = nullptr;
  const int rc = sqlite3_open_v2(db.c_str(), &h, flags, nullptr);
  INFO(db << ": " << sqlite3_errstr(rc));
  REQUIRE(rc == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  const auto v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(h);
  return v;
}

// The schema version this build writes: that of a database a fresh tiraid
// creates, not a number copied from the source.
std::int64_t current_schema() {
  TempDir dir;
  client::TiraidProcess fresh(TIRAID_PATH, dir.path());
  fresh.start();
  const auto v = user_version(fresh.db_file());
  REQUIRE(fresh.stop() == 0);
  return v;
}

fs::path fixture_dir(int version) { return schemas / fmt::format("v{}", version); }

json::object read_fixture(int version) {
  const auto text = read_file(fixture_dir(version) / "fixture.json");
  INFO("fixture " << fixture_dir(version));
  REQUIRE_FALSE(text.empty());
  return json::parse(text).as_object();
}

void copy_private(const fs::path& from, const fs::path& to) {
  fs::create_directories(to.parent_path());
  fs::permissions(to.parent_path(), fs::perms::owner_all);
  REQUIRE(fs::copy_file(from, to));
  fs::permissions(to, fs::perms::owner_read | fs::perms::owner_write);
}


// Reads frames until `expected` message frames have arrived, passing over
// frames of other types (session changes, notices); each message must be the
// next one expected, exactly: so a lost, reordered, altered or replayed
// (already acknowledged) message fails here.
void expect_messages(client::WsClient& ws, const std::vector<json::object>& expected, std::string_view who) {
  for (const auto& want : expected) {
    for (;;) {
      auto f = parse(ws.receive());
      INFO(who << " got: " << json::serialize(f) << "\nwaiting for: " << json::serialize(want));
      if (f["type"] == "error") FAIL("error frame");
      if (f["type"] != "message") continue;
      CHECK(f["session"] == want.at("session"));
      CHECK(f["seq"].to_number<std::int64_t>() == want.at("seq").to_number<std::int64_t>());
      CHECK(f["text"] == want.at("text"));
      if (f["text"] != want.at("text")) FAIL("not the queued message expected next");
      ws.send(fmt::format(R"({{"type":"ack","session":"{}","seq":{}}})", str(f["session"]), f["seq"].to_number<std::int64_t>()));
      break;
    }
  }
}

// Starts this build's tiraid on a copy of the schema `version` fixture and
// checks that it migrated the file and kept every talent, live session and
// queued message.
void check_upgrade(int version) {
  const auto fixture = read_fixture(version);
  REQUIRE(fixture.at("schema_version").to_number<int>() == version);
  INFO("fixture v" << version << " made by commit " << str(fixture.at("commit")));

  TempDir dir;
  client::TiraidProcess daemon(TIRAID_PATH, dir.path());
  copy_private(fixture_dir(version) / "tirai.db", daemon.db_file());
  copy_private(fixture_dir(version) / "master.key", dir.path() / "secrets" / "master.key");
  REQUIRE(user_version(daemon.db_file(), SQLITE_OPEN_READWRITE) == version);

  const auto target = current_schema();
  REQUIRE(target > version);
  daemon.start();  // throws with tiraid's log when a migration fails
  CHECK(user_version(daemon.db_file()) == target);

  auto call = [&](std::string_view method, std::string_view path, const json::value& body = nullptr) {
    return daemon.admin().request(method, path, body.is_null() ? std::string() : json::serialize(body));
  };

  // Talents: enrolled ones listed, the erased one gone and its alias still retired.
  const auto listed = call("GET", "/v1/talents");
  REQUIRE(listed.status == 200);
  std::vector<std::string> aliases;
  auto listing = parse(listed.body);
  for (const auto& t : listing["talents"].as_array()) aliases.push_back(str(t.as_object().at("alias")));
  for (const auto& t : fixture.at("talents").as_array())
    CHECK(std::find(aliases.begin(), aliases.end(), str(t.as_object().at("alias"))) != aliases.end());
  for (const auto& erased : fixture.at("erased_talents").as_array()) {
    const auto& t = erased.as_object();
    CHECK(std::find(aliases.begin(), aliases.end(), str(t.at("alias"))) == aliases.end());
    auto again = call("POST", "/v1/talents", json::object{{"alias", t.at("alias")}, {"secret", t.at("secret")}});
    CHECK(again.status == 409);
    auto ws = daemon.ws();
    ws.send(fmt::format(R"({{"type":"hello","role":"talent","alias":"{}","secret":"{}"}})", str(t.at("alias")),
                        str(t.at("secret"))));
    CHECK(parse(ws.receive())["code"] == "auth_failed");
  }

  // Live sessions: still live, as the admin API sees them.
  std::map<std::string, json::object> sessions;
  for (const auto& s : fixture.at("sessions").as_array()) {
    const auto& want = s.as_object();
    sessions[str(want.at("id"))] = want;
    auto shown = call("GET", "/v1/sessions/" + str(want.at("id")));
    INFO(shown.body);
    REQUIRE(shown.status == 200);
    auto rec = parse(shown.body);
    CHECK(rec["state"] == want.at("state"));
    CHECK(rec["state"] != "closed");
    CHECK(rec["talent"] == want.at("talent"));
    CHECK(rec["client_alias"] == want.at("client_alias"));
    CHECK(rec["messages"] == want.at("messages"));
    CHECK(str(rec["expires_at"]).substr(0, 19) == str(want.at("expires_at")).substr(0, 19));
  }
  // An ended session stays ended: its link reaches nobody (its record may be
  // purged by retention by the time this runs).
  for (const auto& ended : fixture.at("ended_sessions").as_array()) {
    const auto& s = ended.as_object();
    auto shown = call("GET", "/v1/sessions/" + str(s.at("id")));
    if (shown.status == 200) CHECK(parse(shown.body)["state"] == "closed");
    else CHECK(shown.status == 404);
    auto ws = daemon.ws();
    ws.send(fmt::format(R"({{"type":"hello","role":"client","token":"{}"}})", str(s.at("client_token"))));
    CHECK(parse(ws.receive())["code"] == "auth_failed");
  }

  // Queued messages, per recipient in the order of their seq.
  std::map<std::string, std::vector<json::object>> queued;
  for (const auto& m : fixture.at("queued_messages").as_array()) queued[str(m.as_object().at("to"))].push_back(m.as_object());
  REQUIRE(queued.size() >= 2);

  // Each talent logs in with her secret, sees her live sessions, and gets
  // what waited for her, and nothing she had acknowledged.
  std::map<std::string, client::WsClient> talents;
  for (const auto& talent : fixture.at("talents").as_array()) {
    const auto& t = talent.as_object();
    const auto alias = str(t.at("alias"));
    auto ws = daemon.ws();
    ws.send(fmt::format(R"({{"type":"hello","role":"talent","alias":"{}","secret":"{}"}})", alias, str(t.at("secret"))));
    auto welcome = expect(ws, "welcome");
    for (const auto& [id, s] : sessions) {
      if (str(s.at("talent")) != alias) continue;
      bool listed_here = false;
      for (const auto& v : welcome["sessions"].as_array())
        if (str(v.as_object().at("session")) == id) {
          listed_here = true;
          CHECK(v.as_object().at("peer") == s.at("client_alias"));
        }
      CHECK(listed_here);
    }
    expect_messages(ws, queued[alias], alias);
    talents.emplace(alias, std::move(ws));
  }

  // Each client reconnects with the link's token, gets what the talent wrote
  // while it was away, and the session carries on: a new message gets the
  // next seq and reaches the talent at once.
  for (const auto& [id, s] : sessions) {
    auto ws = daemon.ws();
    ws.send(fmt::format(R"({{"type":"hello","role":"client","token":"{}"}})", str(s.at("client_token"))));
    auto welcome = expect(ws, "welcome");
    REQUIRE(welcome["sessions"].as_array().size() == 1);
    CHECK(str(welcome["sessions"].as_array()[0].as_object().at("session")) == id);
    std::vector<json::object> mine;
    for (const auto& m : queued["client"])
      if (str(m.at("session")) == id) mine.push_back(m);
    expect_messages(ws, mine, "client of " + id);

    const auto text = fmt::format("after the upgrade from schema {}", version);
    ws.send(json::serialize(json::object{{"type", "send"}, {"session", id}, {"id", "after-upgrade"}, {"text", text}}));
    auto accepted = expect(ws, "accepted");
    const auto seq = accepted["seq"].to_number<std::int64_t>();
    CHECK(seq == s.at("messages").to_number<std::int64_t>() + 1);
    auto& talent = talents.at(str(s.at("talent")));
    expect_messages(talent, {json::object{{"session", id}, {"seq", seq}, {"text", text}}}, str(s.at("talent")));
  }

  talents.clear();
  CHECK(daemon.stop() == 0);
  CHECK(user_version(daemon.db_file(), SQLITE_OPEN_READWRITE) == target);
}

}  // namespace

TEST_CASE("upgrade: the fixtures cover every older schema", "[e2e][upgrade]") {
  const auto target = current_schema();
  for (int v = 1; v < target; ++v) {
    INFO("schema " << v << " under " << schemas);
    for (const char* f : {"tirai.db", "master.key", "fixture.json"}) CHECK(fs::is_regular_file(fixture_dir(v) / f));
  }
}

TEST_CASE("upgrade from schema 1 keeps talents and live sessions and delivers queued messages", "[e2e][upgrade]") {
  check_upgrade(1);
}
TEST_CASE("upgrade from schema 2 keeps talents and live sessions and delivers queued messages", "[e2e][upgrade]") {
  check_upgrade(2);
}
TEST_CASE("upgrade from schema 3 keeps talents and live sessions and delivers queued messages", "[e2e][upgrade]") {
  check_upgrade(3);
}
TEST_CASE("upgrade from schema 4 keeps talents and live sessions and delivers queued messages", "[e2e][upgrade]") {
  check_upgrade(4);
}
TEST_CASE("upgrade from schema 5 keeps talents and live sessions and delivers queued messages", "[e2e][upgrade]") {
  check_upgrade(5);
}
TEST_CASE("upgrade from schema 6 keeps talents and live sessions and delivers queued messages", "[e2e][upgrade]") {
  check_upgrade(6);
}
TEST_CASE("upgrade from schema 7 keeps talents and live sessions and delivers queued messages", "[e2e][upgrade]") {
  check_upgrade(7);
}
TEST_CASE("upgrade from schema 8 keeps talents and live sessions and delivers queued messages", "[e2e][upgrade]") {
  check_upgrade(8);
}

namespace {

// Runs `sql` on `db` (no tiraid on it).
void exec_sql(const fs::path& db, const char* sql) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(h, sql, nullptr, nullptr, &error);
  INFO((error ? error : ""));
  sqlite3_free(error);
  sqlite3_close(h);
  REQUIRE(rc == SQLITE_OK);
}

}  // namespace

// Step 8 gained sms_outbox.session_id (and its index) after a build with its
// first form had been committed: such a database says 8 and lacks both.
TEST_CASE("upgrade from schema 8 as first written (no sms_outbox.session_id) repairs it and tears sessions down",
          "[e2e][upgrade]") {
  const auto fixture = read_fixture(8);
  TempDir dir;
  client::TiraidProcess daemon(TIRAID_PATH, dir.path(), "[sessions]\ngrace = \"0s\"\n");
  copy_private(fixture_dir(8) / "tirai.db", daemon.db_file());
  copy_private(fixture_dir(8) / "master.key", dir.path() / "secrets" / "master.key");
  exec_sql(daemon.db_file(), "DROP INDEX sms_outbox_by_session; ALTER TABLE sms_outbox DROP COLUMN session_id;");
  REQUIRE(user_version(daemon.db_file(), SQLITE_OPEN_READWRITE) == 8);
  daemon.start();
  // A teardown deletes the session's queued texts by session_id: it works.
  const auto id = str(fixture.at("sessions").as_array()[0].as_object().at("id"));
  CHECK(daemon.admin().request("POST", "/v1/sessions/" + id + "/end", "").status == 200);
  CHECK(daemon.wait_for_log(id + " closed (ended_by_operator)"));
  CHECK(daemon.log().find("job failed") == std::string::npos);
  CHECK(daemon.stop() == 0);
}

// Step 1 gained the meta table (the master key's check), retired aliases and
// per-person keys after the first cut had been committed: nothing can bring
// such a database forward, and tiraid says so rather than fail on a query.
TEST_CASE("upgrade from schema 1 as first written (before per-person keys) is refused with a clear message",
          "[e2e][upgrade]") {
  TempDir dir;
  client::TiraidProcess daemon(TIRAID_PATH, dir.path());
  copy_private(fixture_dir(1) / "tirai.db", daemon.db_file());
  copy_private(fixture_dir(1) / "master.key", dir.path() / "secrets" / "master.key");
  exec_sql(daemon.db_file(), "DROP TABLE meta; DROP TABLE retired_aliases;");
  CHECK_THROWS(daemon.start());
  CHECK_THAT(daemon.log(), Catch::Contains("made by a pre-release tirai") && Catch::Contains("cannot be upgraded"));
  // The file is left as it was: not migrated, not replaced by a new database.
  CHECK(user_version(daemon.db_file(), SQLITE_OPEN_READWRITE) == 1);
}
