// Calls end to end with a real coturn (issue "Voice calls in the browser"):
// the credentials tiraid hands out are the ones coturn takes, and a call's
// allocations die with the call and its session, at once. The browsers'
// side (media through the relay, candidates) is in web/e2e/calls.test.mjs.
#include "support/relay_fixture.hpp"
#include "tools/coturn_process.hpp"

#include <chrono>

namespace tirai::test {

using client::Coturn;

namespace {

// coturn is part of what CI installs (tools/install-deps.sh): missing is a failure, not a skip.
std::filesystem::path coturn_dir(const test::TempDir& dir) {
  if (!Coturn::installed()) throw std::runtime_error("coturn is not installed: run tools/install-deps.sh");
  return dir.path();
}


// The next call frame of `action` on `ws`, skipping session notices.
json::object next_call(WsClient& ws, std::string_view action) {
  while (true) {
    auto f = parse(ws.receive());
    INFO(json::serialize(f));
    if (f["type"] == "session") continue;
    REQUIRE(f["type"] == "call");
    REQUIRE(f["action"].as_string() == action);
    return f;
  }
}

// A relay with calls and a coturn beside it (started unless told not to),
// one voice session booked, and both of its sides connected.
struct CallWorld {
  explicit CallWorld(bool start_coturn = true)
      : coturn(coturn_dir(cdir)), relay(coturn.tiraid_calls_toml() + "[log]\nlevel = \"debug\"\n") {
    if (start_coturn) coturn.start();
    relay.enrol("natasha");
    booking = relay.book("natasha", "+6281234567890", "chat-call-60m");
    talent.emplace(relay.talent("natasha"));
    client.emplace(relay.client(booking));
  }
  // The client calls; its `started`.
  json::object start_call(std::string_view id = "r1") {
    client->send(json::serialize(
        json::object{{"type", "call"}, {"action", "start"}, {"session", booking["session"]}, {"id", id}}));
    return next_call(*client, "started");
  }
  test::TempDir cdir;
  Coturn coturn;
  Relay relay;
  json::object booking;
  std::optional<WsClient> talent, client;
};

std::pair<std::string, std::string> credential_of(json::object& call_frame) {
  auto server = call_frame["ice"].as_object()["servers"].as_array().at(0).as_object();
  return {str(server["username"]), str(server["credential"])};
}

bool holds(const std::vector<std::string>& allocations, const std::string& username) {
  return std::find(allocations.begin(), allocations.end(), username) != allocations.end();
}

// Polls coturn's CLI until `username` has no allocation; the time it took.
std::optional<std::chrono::milliseconds> gone_within(const Coturn& coturn, const std::string& username,
                                                     std::chrono::milliseconds limit) {
  const auto start = std::chrono::steady_clock::now();
  while (true) {
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    if (!holds(coturn.allocations(), username)) return waited;
    if (waited > limit) return std::nullopt;
  }
}

}  // namespace

TEST_CASE("a call's TURN allocations are cancelled in coturn the moment its session ends", "[e2e][calls]") {
  CallWorld w;
  auto& b = w.booking;
  auto& talent = *w.talent;
  auto& client = *w.client;
  auto started = w.start_call();
  auto ringing = next_call(talent, "ringing");
  CHECK(ringing["from"] == b["client_alias"]);
  const auto [client_user, client_pass] = credential_of(started);
  const auto [talent_user, talent_pass] = credential_of(ringing);
  CHECK(client_pass == w.coturn.password_for(client_user));
  talent.send(json::serialize(json::object{{"type", "call"}, {"action", "accept"}, {"session", b["session"]}, {"call", started["call"]}}));
  next_call(client, "accepted");

  // Both sides allocate with what they were given, and media flows.
  auto client_media = w.coturn.allocate(client_user, client_pass);
  auto talent_media = w.coturn.allocate(talent_user, talent_pass);
  REQUIRE(client_media->wait_for_log("start_mclient: msz=", 0, std::chrono::seconds(20)));
  REQUIRE(talent_media->wait_for_log("start_mclient: msz=", 0, std::chrono::seconds(20)));
  auto before = w.coturn.allocations();
  REQUIRE(holds(before, client_user));
  REQUIRE(holds(before, talent_user));

  // The operator ends the session: both sides hear the call ended, and
  // coturn holds nothing of the call within a second, although both TURN
  // clients are still running and their credentials valid for an hour.
  CHECK(w.relay.call("POST", "/v1/sessions/" + str(b["session"]) + "/end").status == 200);
  CHECK(next_call(client, "ended")["reason"] == "session_closed");
  CHECK(next_call(talent, "ended")["reason"] == "session_closed");
  const auto took = gone_within(w.coturn, client_user, std::chrono::seconds(1));
  REQUIRE(took);
  CHECK(gone_within(w.coturn, talent_user, std::chrono::seconds(1)));
  CHECK(client_media->running());
  const auto metrics = w.relay.call("GET", "/metrics").body;
  INFO(metrics);
  CHECK(metrics.find("tirai_calls_ended_total{reason=\"session_closed\"} 1") != std::string::npos);
  // Every allocation both clients made (turnutils_uclient makes several), counted.
  const auto made = std::count(before.begin(), before.end(), client_user) + std::count(before.begin(), before.end(), talent_user);
  CHECK(metrics.find(fmt::format("tirai_turn_allocations_cancelled_total {}\n", made)) != std::string::npos);
  // No address, credential or SDP in tiraid's log, at debug level.
  const auto log = w.relay.daemon.log();
  CHECK(log.find("127.0.0.1:" + std::to_string(w.coturn.port())) == std::string::npos);
  CHECK(log.find(client_pass) == std::string::npos);
  CHECK(log.find(client_user) == std::string::npos);
}

TEST_CASE("coturn takes the credentials tiraid issues and refuses wrong or expired ones", "[e2e][calls]") {
  CallWorld w;
  auto started = w.start_call();
  const auto [user, pass] = credential_of(started);
  CHECK(w.coturn.can_allocate(user, pass));
  CHECK_FALSE(w.coturn.can_allocate(user, w.coturn.password_for(user + "x")));
  // Expired a second ago, in the same scheme and with the right secret.
  const auto expired = std::to_string(std::time(nullptr) - 1) + user.substr(user.find(':'));
  CHECK_FALSE(w.coturn.can_allocate(expired, w.coturn.password_for(expired)));
}

TEST_CASE("with coturn down a call ends failed and the chat goes on", "[e2e][calls]") {
  CallWorld w(false);
  auto& b = w.booking;
  auto& talent = *w.talent;
  auto& client = *w.client;
  w.start_call();
  next_call(talent, "ringing");
  CHECK(next_call(client, "ended")["reason"] == "failed");
  CHECK(next_call(talent, "ended")["reason"] == "failed");
  client.send(send_frame(b, "m1", "halo kak"));
  expect(client, "accepted");
  CHECK(expect(talent, "message")["text"] == "halo kak");
  // Counted, and logged once for the change of state, not per attempt.
  CHECK(w.relay.daemon.wait_for_log("[calls] coturn's CLI (calls.turn_admin) cannot connect"));
  const auto metrics = w.relay.call("GET", "/metrics").body;
  const auto at = metrics.find("\ntirai_turn_failures_total ");
  REQUIRE(at != std::string::npos);
  CHECK(std::stoi(metrics.substr(at + 27)) >= 1);
  w.start_call("r2");
  CHECK(next_call(client, "ended")["reason"] == "failed");
  const auto log = w.relay.daemon.log();
  // The warning once; the later tries are debug lines ("still cannot connect").
  CHECK(log.find("(calls.turn_admin) cannot connect") == log.rfind("(calls.turn_admin) cannot connect"));
}

TEST_CASE("a call begun while the start-up sweep waits for coturn keeps its allocations", "[e2e][calls]") {
  // tiraid starts with coturn down: its sweep of allocations an earlier run
  // left waits for coturn, tried again 1 s, 2 s, then 4 s later.
  CallWorld w(false);
  auto& b = w.booking;
  REQUIRE(w.relay.daemon.wait_for_log("cannot connect: Connection refused (try 3); next try in 4s"));
  const auto swept_from = w.relay.daemon.log_lines();
  w.coturn.start();
  // An allocation of an earlier run: tirai's form of username, still valid.
  const auto earlier = std::to_string(std::time(nullptr) + 3600) + ":abcdefghijklmnopqrstuvwxyz";
  auto earlier_media = w.coturn.allocate(earlier, w.coturn.password_for(earlier));
  // Meanwhile a call: coturn answers its check, and both sides allocate.
  auto started = w.start_call();
  auto ringing = next_call(*w.talent, "ringing");
  w.talent->send(json::serialize(
      json::object{{"type", "call"}, {"action", "accept"}, {"session", b["session"]}, {"call", started["call"]}}));
  next_call(*w.client, "accepted");
  const auto [client_user, client_pass] = credential_of(started);
  const auto [talent_user, talent_pass] = credential_of(ringing);
  auto client_media = w.coturn.allocate(client_user, client_pass);
  auto talent_media = w.coturn.allocate(talent_user, talent_pass);
  for (auto* m : {&earlier_media, &client_media, &talent_media})
    REQUIRE((*m)->wait_for_log("start_mclient: msz=", 0, std::chrono::seconds(20)));
  // All three hold allocations before the sweep runs (else this proves nothing).
  const auto before = w.coturn.allocations();
  for (const auto& line : w.relay.daemon.lines(swept_from)) REQUIRE(line.find("left from before the restart") == std::string::npos);
  for (const auto& u : {earlier, client_user, talent_user}) CHECK(holds(before, u));
  // The sweep cancels the earlier run's, and not the live call's.
  CHECK(w.relay.daemon.wait_for_log(
      fmt::format("cancelled {} TURN allocations left from before the restart",
                  std::count(before.begin(), before.end(), earlier)),
      swept_from, std::chrono::seconds(10)));
  CHECK(gone_within(w.coturn, earlier, std::chrono::seconds(2)));
  const auto after = w.coturn.allocations();
  CHECK(std::count(after.begin(), after.end(), client_user) == std::count(before.begin(), before.end(), client_user));
  CHECK(std::count(after.begin(), after.end(), talent_user) == std::count(before.begin(), before.end(), talent_user));
}

TEST_CASE("after a kill -9 mid-call the restarted tiraid cancels the call's allocations", "[e2e][calls]") {
  CallWorld w;
  auto started = w.start_call();
  const auto [user, pass] = credential_of(started);
  w.relay.daemon.kill9();
  auto media = w.coturn.allocate(user, pass);
  REQUIRE(media->wait_for_log("start_mclient: msz=", 0, std::chrono::seconds(20)));
  REQUIRE(holds(w.coturn.allocations(), user));
  const auto from = w.relay.daemon.log_lines();
  w.relay.daemon.start();
  CHECK(w.relay.daemon.wait_for_log("TURN allocations left from before the restart", from));
  // coturn drops a cancelled allocation in its relay thread, a moment later.
  CHECK(gone_within(w.coturn, user, std::chrono::seconds(2)));
}

}  // namespace tirai::test
