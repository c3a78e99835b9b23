// Calls (design §11) in the real Relay with a fake TURN admin, peers the test
// drives and a fake clock: signalling, the package's rules, the clocks, and
// the end of a call with its session.
#include "crypto/turn_credential.hpp"
#include "relay/calls/coturn_cli.hpp"
#include "support/relay_unit_fixture.hpp"

using namespace tirai;
using namespace tirai::relay;
using namespace tirai::test;

namespace {

class FakeTurnAdmin final : public TurnAdmin {
 public:
  void check(std::function<void(bool)> done) override { checks.push_back(std::move(done)); }
  void cancel(std::vector<std::string> usernames, std::function<void(std::optional<int>)> done) override {
    cancelled.push_back(usernames);
    done(static_cast<int>(usernames.size()));
  }
  void cancel_all(std::function<bool(const std::string&)> spare, std::function<void(std::optional<int>)> done) override {
    ++swept;
    sweep_spares = std::move(spare);
    sweep_done = std::move(done);
  }
  // Answers the checks asked so far.
  void answer_checks(bool ok) {
    auto pending = std::move(checks);
    checks.clear();
    for (auto& c : pending) c(ok);
  }
  std::vector<std::function<void(bool)>> checks;
  std::vector<std::vector<std::string>> cancelled;
  int swept = 0;
  std::function<bool(const std::string&)> sweep_spares;
  std::function<void(std::optional<int>)> sweep_done;
};

struct CallFixture : Fixture {
  CallFixture() {
    config.calls.enabled = true;
    config.calls.turn_urls = {"turn:198.51.100.7:3478?transport=udp"};
    config.calls.relay_addresses = {"198.51.100.7"};
    config.calls.ring_timeout = 45s;
    auto voice = [](std::string name, std::vector<std::string> channels) {
      Package p{name, std::move(channels), 60min, std::nullopt};
      return std::pair{name, p};
    };
    config.packages.insert(voice("call-60m", {"chat", "voice"}));
    config.packages.insert(voice("voice-only", {"voice"}));
    auto limited = voice("call-5min", {"chat", "voice"});
    limited.second.call_minutes = 5;
    config.packages.insert(limited);
    auto idle = voice("call-idle-10m", {"chat", "voice"});
    idle.second.idle_timeout = 10min;
    config.packages.insert(idle);
    auto shy = voice("client-first", {"chat", "voice"});
    shy.second.first_contact = FirstContact::client;
    config.packages.insert(shy);
    mgr = make_manager();
    mgr->enable_calls(admin, crypto::Secret::from(turn_secret));
    enrol("natasha");
  }

  // A session of `package` with both sides connected.
  Booking connect(const std::string& package) {
    const auto b = book("natasha", "+6281234567890", package);
    hello_talent(talent, "natasha");
    hello_client(client, b.client_token);
    return b;
  }
  void call(FakePeer& p, const std::string& session, std::string_view rest) {
    frame(p, fmt::format(R"({{"type":"call","session":"{}",{}}})", session, rest));
  }
  // The caller starts; returns the call id from `started`.
  std::string start(FakePeer& caller, const std::string& session) {
    const auto before = calls(caller, "started").size();
    call(caller, session, R"("action":"start","id":"r1")");
    auto started = calls(caller, "started");
    INFO(caller.frames.back());
    REQUIRE(started.size() == before + 1);
    return std::string(started.back()["call"].as_string());
  }
  static std::vector<json::object> calls(const FakePeer& p, std::string_view action) {
    std::vector<json::object> out;
    for (auto& f : p.of_type("call"))
      if (f["action"].as_string() == action) out.push_back(f);
    return out;
  }
  static std::string error_code(const FakePeer& p) {
    auto errors = p.of_type("error");
    return errors.empty() ? "" : std::string(errors.back()["code"].as_string());
  }

  const std::string turn_secret = "turn-secret-for-tests-0123456789";
  FakeTurnAdmin admin;
  FakePeer talent, client;
};

}  // namespace

TEST_CASE_METHOD(CallFixture, "a call rings, is answered, carries filtered SDP and ends for both", "[calls]") {
  const auto b = connect("call-60m");
  const auto id = start(client, b.session);
  CHECK(id.starts_with("c_"));
  CHECK(id.size() == 28);
  auto started = calls(client, "started").back();
  CHECK(started["id"] == "r1");
  auto ringing = calls(talent, "ringing");
  REQUIRE(ringing.size() == 1);
  CHECK(ringing[0]["from"] == b.client_alias.c_str());
  CHECK(ringing[0]["session"] == b.session.c_str());

  // Each side its own credential, coturn's scheme, for the TURN server only,
  // relay policy, expiring with the session and its grace.
  const auto ice_of = [](json::object& f) { return f["ice"].as_object(); };
  auto ci = ice_of(calls(client, "started").back()), ti = ice_of(ringing[0]);
  CHECK(ci["transport_policy"] == "relay");
  const auto server = [](json::object& ice) { return ice["servers"].as_array().at(0).as_object(); };
  const auto cs = server(ci), ts = server(ti);
  CHECK(cs.at("urls").as_array().size() == 1);
  CHECK(cs.at("urls").as_array()[0] == "turn:198.51.100.7:3478?transport=udp");
  const std::string cu(cs.at("username").as_string()), tu(ts.at("username").as_string());
  CHECK(cu != tu);
  CHECK(tirai_turn_username(cu));
  CHECK(cu.substr(0, cu.find(':')) == std::to_string((b.expires_at + 60'000) / 1000));
  CHECK(cs.at("credential") == crypto::turn_password(crypto::Secret::from(turn_secret), cu).c_str());
  // The username names no alias, session or number.
  for (const std::string& s : {b.session, b.client_alias, std::string("natasha"), std::string("81234567890")})
    CHECK(cu.find(s) == std::string::npos);

  // No media before the answer.
  const auto offer = std::string(R"("action":"sdp","call":")") + id +
                     R"(","sdp":{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n)"
                     R"(m=audio 50000 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 198.51.100.7\r\na=ice-ufrag:abcd\r\n)"
                     R"(a=ice-pwd:0123456789012345678901\r\na=fingerprint:sha-256 AA:BB\r\na=rtpmap:111 opus/48000/2\r\n)"
                     R"(a=candidate:1 1 udp 2122260223 192.0.2.10 50000 typ host generation 0\r\n)"
                     R"(a=candidate:2 1 udp 41885439 198.51.100.7 50001 typ relay raddr 192.0.2.10 rport 50000\r\n"})";
  call(client, b.session, offer);
  CHECK(error_code(client) == "not_allowed");
  CHECK(calls(talent, "sdp").empty());

  call(client, b.session, R"("action":"accept","call":")" + id + "\"");  // the caller cannot answer
  CHECK(error_code(client) == "not_allowed");
  call(talent, b.session, R"("action":"accept","call":")" + id + "\"");
  REQUIRE(calls(client, "accepted").size() == 1);
  CHECK(metrics.calls_answered->Value() == 1);

  call(client, b.session, offer);
  auto sdp = calls(talent, "sdp");
  REQUIRE(sdp.size() == 1);
  CHECK(sdp[0]["sdp"].as_object()["type"] == "offer");
  const std::string text(sdp[0]["sdp"].as_object()["sdp"].as_string());
  CHECK(text.find("192.0.2.10") == std::string::npos);
  CHECK(text.find("typ host") == std::string::npos);
  CHECK(text.find("a=candidate:2 1 udp 41885439 198.51.100.7 50001 typ relay raddr 0.0.0.0 rport 0") != std::string::npos);

  // Trickled: the host candidate goes nowhere, the relay one crosses rewritten.
  const auto cand = [&](FakePeer& p, std::string_view c) {
    call(p, b.session,
         fmt::format(R"("action":"candidate","call":"{}","candidate":{{"candidate":"{}","sdpMid":"0","sdpMLineIndex":0}})", id, c));
  };
  cand(talent, "candidate:3 1 udp 2122260223 192.0.2.99 40000 typ host");
  CHECK(calls(client, "candidate").empty());
  CHECK(metrics.call_candidates_dropped->Value() == 2);
  cand(talent, "candidate:4 1 udp 41885439 198.51.100.7 50002 typ relay raddr 192.0.2.99 rport 40000");
  auto crossed = calls(client, "candidate");
  REQUIRE(crossed.size() == 1);
  CHECK(crossed[0]["candidate"].as_object()["candidate"] ==
        "candidate:4 1 udp 41885439 198.51.100.7 50002 typ relay raddr 0.0.0.0 rport 0");
  CHECK(crossed[0]["candidate"].as_object()["sdpMid"] == "0");
  cand(talent, "");  // the end of candidates crosses as it is
  CHECK(calls(client, "candidate").size() == 2);
  cand(talent, "candidate:garbage");
  CHECK(error_code(talent) == "bad_request");
  call(talent, b.session, R"("action":"sdp","call":")" + id + R"(","sdp":{"type":"answer","sdp":"v=0\r\nm=video 9 x"})");
  CHECK(error_code(talent) == "bad_request");
  CHECK(calls(client, "sdp").empty());

  // 95 seconds later the talent hangs up: both hear it, with the time talked.
  clock.advance(95s);
  call(talent, b.session, R"("action":"hangup","call":")" + id + "\"");
  for (auto* p : {&talent, &client}) {
    auto ended = calls(*p, "ended");
    REQUIRE(ended.size() == 1);
    CHECK(ended[0]["reason"] == "hangup");
    CHECK(ended[0]["seconds"] == 95);
  }
  REQUIRE(admin.cancelled.size() == 1);
  CHECK(admin.cancelled[0] == std::vector<std::string>{tu, cu});
  CHECK(metrics.calls_active->Value() == 0);
  CHECK(metrics.call_seconds->Value() == 95);
  settle();
  CHECK(st->session(b.session)->call_seconds == 95);
  // A frame about the ended call is answered as unknown.
  call(talent, b.session, R"("action":"hangup","call":")" + id + "\"");
  CHECK(error_code(talent) == "not_in_session");
  // Chat went on all along, and a new call may start.
  start(talent, b.session);
}

TEST_CASE_METHOD(CallFixture, "decline, busy, no answer and a callee who is not there", "[calls]") {
  const auto b = connect("call-60m");
  auto id = start(client, b.session);
  call(talent, b.session, R"("action":"start","id":"r2")");
  CHECK(error_code(talent) == "busy");
  CHECK(talent.of_type("error").back()["id"] == "r2");
  call(talent, b.session, R"("action":"decline","call":")" + id + "\"");
  CHECK(calls(client, "ended").back()["reason"] == "declined");
  CHECK(calls(talent, "ended").back()["reason"] == "declined");

  // Nobody answers: no_answer at the ring timeout, not a moment before.
  id = start(client, b.session);
  advance_to(t0 + 45'000 - 1);
  CHECK(calls(client, "ended").size() == 1);
  clock.set(t0 + 45'000);
  mgr->core().tick();
  CHECK(calls(client, "ended").back()["reason"] == "no_answer");
  CHECK(calls(talent, "ended").back()["seconds"] == 0);

  // The caller gives up while it rings.
  id = start(client, b.session);
  call(client, b.session, R"("action":"hangup","call":")" + id + "\"");
  CHECK(calls(talent, "ended").back()["reason"] == "hangup");

  // The talent is offline: the call ends at once, peer_gone.
  mgr->detach(talent);
  id = start(client, b.session);
  CHECK(calls(client, "ended").back()["reason"] == "peer_gone");
  CHECK(metrics.calls_active->Value() == 0);
}

TEST_CASE_METHOD(CallFixture, "a console that reconnects while called rings again, and a side gone ends the call",
                 "[calls]") {
  const auto b = connect("call-60m");
  const auto id = start(client, b.session);
  FakePeer again;
  hello_talent(again, "natasha");  // the old connection is replaced
  REQUIRE(calls(again, "ringing").size() == 1);
  CHECK(calls(again, "ringing")[0]["call"] == id.c_str());
  call(again, b.session, R"("action":"accept","call":")" + id + "\"");
  REQUIRE(calls(client, "accepted").size() == 1);
  mgr->detach(client);
  CHECK(calls(again, "ended").back()["reason"] == "peer_gone");
  CHECK(admin.cancelled.size() == 1);
}

TEST_CASE_METHOD(CallFixture, "packages: chat only, voice only, and calls off", "[calls]") {
  auto b = connect("chat-30m");
  call(client, b.session, R"("action":"start","id":"r1")");
  CHECK(error_code(client) == "not_allowed");
  CHECK(calls(talent, "ringing").empty());

  FakePeer t2, c2;
  b = book("natasha", "+6281234567891", "voice-only");
  hello_talent(t2, "natasha");
  hello_client(c2, b.client_token);
  send(c2, b.session, "m1", "halo");
  settle();
  CHECK(error_code(c2) == "not_allowed");
  CHECK(c2.of_type("error").back()["message"] == "this session's package is voice only");
  CHECK(t2.of_type("message").empty());
  start(c2, b.session);
  CHECK(calls(t2, "ringing").size() == 1);
}

TEST_CASE_METHOD(CallFixture, "first_contact = client: the talent can neither write nor call first", "[calls]") {
  const auto b = connect("client-first");
  send(talent, b.session, "t1", "halo");
  settle();
  CHECK(error_code(talent) == "not_allowed");
  call(talent, b.session, R"("action":"start","id":"r1")");
  CHECK(error_code(talent) == "not_allowed");
  CHECK(client.of_type("message").empty());
  CHECK(calls(client, "ringing").empty());

  // The client calls: from then on the talent may do both, across a restart too.
  const auto id = start(client, b.session);
  call(client, b.session, R"("action":"hangup","call":")" + id + "\"");
  settle();
  CHECK(st->session(b.session)->client_contacted);
  send(talent, b.session, "t2", "halo kak");
  settle();
  CHECK(client.of_type("message").size() == 1);
  start(talent, b.session);
}

TEST_CASE_METHOD(CallFixture, "call minutes: a warning a minute before, time_limit at it, then no more calls",
                 "[calls][timers]") {
  const auto b = connect("call-5min");
  auto id = start(client, b.session);
  call(talent, b.session, R"("action":"accept","call":")" + id + "\"");
  advance_to(t0 + 2 * 60'000);
  call(client, b.session, R"("action":"hangup","call":")" + id + "\"");
  settle();
  CHECK(st->session(b.session)->call_seconds == 120);

  // Three minutes are left for the next call.
  id = start(talent, b.session);
  call(client, b.session, R"("action":"accept","call":")" + id + "\"");
  const UnixMs answered = t0 + 2 * 60'000;
  advance_to(answered + 2 * 60'000 - 1);
  CHECK(calls(client, "expiring").empty());
  advance_to(answered + 2 * 60'000);
  for (auto* p : {&talent, &client}) {
    REQUIRE(calls(*p, "expiring").size() == 1);
    CHECK(calls(*p, "expiring")[0]["seconds"] == 60);
  }
  advance_to(answered + 3 * 60'000 - 1);
  CHECK(calls(client, "ended").size() == 1);
  advance_to(answered + 3 * 60'000);
  CHECK(calls(client, "ended").back()["reason"] == "time_limit");
  CHECK(calls(talent, "ended").back()["seconds"] == 180);
  settle();
  CHECK(st->session(b.session)->call_seconds == 300);
  call(client, b.session, R"("action":"start","id":"r9")");
  CHECK(error_code(client) == "quota_exhausted");
}

TEST_CASE_METHOD(CallFixture, "the session ends mid-call: ended session_closed and the allocations cancelled",
                 "[calls]") {
  const auto b = connect("call-60m");
  const auto id = start(client, b.session);
  call(talent, b.session, R"("action":"accept","call":")" + id + "\"");
  mgr->bookings().end_by_operator(b.session);
  settle();
  for (auto* p : {&talent, &client}) CHECK(calls(*p, "ended").back()["reason"] == "session_closed");
  REQUIRE(admin.cancelled.size() == 1);
  CHECK(admin.cancelled[0].size() == 2);
  // During the farewell grace no call starts.
  call(client, b.session, R"("action":"start","id":"r2")");
  CHECK(error_code(client) == "session_closed");
  CHECK(metrics.calls_active->Value() == 0);
}

TEST_CASE_METHOD(CallFixture, "a TURN server that does not answer ends the call failed, chat goes on", "[calls]") {
  const auto b = connect("call-60m");
  const auto id = start(client, b.session);
  REQUIRE(admin.checks.size() == 1);
  admin.answer_checks(false);
  CHECK(calls(client, "ended").back()["reason"] == "failed");
  CHECK(calls(talent, "ended").back()["reason"] == "failed");
  CHECK(metrics.turn_failures->Value() == 1);
  send(client, b.session, "m1", "still here");
  settle();
  CHECK(talent.of_type("message").size() == 1);
  // A side whose media never connected says so.
  const auto id2 = start(client, b.session);
  admin.answer_checks(true);
  call(talent, b.session, R"("action":"accept","call":")" + id2 + "\"");
  call(talent, b.session, R"("action":"hangup","call":")" + id2 + R"(","reason":"failed")");
  CHECK(calls(client, "ended").back()["reason"] == "failed");
  CHECK(id != id2);
}

TEST_CASE_METHOD(CallFixture, "start-up sweeps the allocations an earlier run left, not this run's", "[calls]") {
  mgr->calls()->start();
  CHECK(admin.swept == 1);
  REQUIRE(admin.sweep_spares);
  // An earlier run's username, of tirai's form: swept.
  const auto earlier = crypto::new_turn_credential(crypto::Secret::from(turn_secret), 1'900'000'000).username;
  CHECK_FALSE(admin.sweep_spares(earlier));
  // The TURN server was down at start-up, and the sweep waits for it; a call
  // begun meanwhile keeps its allocations when the sweep runs at last.
  const auto b = connect("call-60m");
  start(client, b.session);
  admin.answer_checks(true);
  auto ringing = calls(talent, "ringing");
  REQUIRE(ringing.size() == 1);
  auto started = calls(client, "started").back();
  for (auto* f : {&started, &ringing[0]}) {
    const std::string user((*f)["ice"].as_object()["servers"].as_array().at(0).as_object()["username"].as_string());
    CHECK(admin.sweep_spares(user));
  }
  CHECK_FALSE(admin.sweep_spares(earlier));
  // Once it has run, nothing more is kept for it.
  admin.sweep_done(3);
  CHECK_FALSE(admin.sweep_spares(std::string(calls(client, "started").back()["ice"].as_object()["servers"].as_array().at(0).as_object()["username"].as_string())));
}

TEST_CASE("coturn's session listing is read for ids and usernames only", "[calls]") {
  const std::string listing =
      "\r\n    1) id=000000000000000001, user <1796247020:abcdefghijklmnopqrstuvwxyz>:\r\n"
      "      realm: tirai\r\n      client addr 192.0.2.10:44906, server addr 198.51.100.7:3478\r\n"
      "      relay addr 198.51.100.7:50072\r\n\r\n"
      "    2) id=001000000000000001, user <someone-else>:\r\n      realm: tirai\r\n\r\n"
      "  Total sessions: 2\r\n\r\n> ";
  const auto sessions = parse_coturn_sessions(listing);
  REQUIRE(sessions.size() == 2);
  CHECK(sessions[0].id == "000000000000000001");
  CHECK(sessions[0].username == "1796247020:abcdefghijklmnopqrstuvwxyz");
  CHECK(sessions[1].username == "someone-else");
  CHECK(tirai_turn_username(sessions[0].username));
  CHECK_FALSE(tirai_turn_username(sessions[1].username));
  CHECK_FALSE(tirai_turn_username("1796247020:ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
  CHECK(parse_coturn_sessions("\r\n  Total sessions: 0\r\n\r\n> ").empty());
}

TEST_CASE_METHOD(CallFixture, "a side that logs in elsewhere mid-call ends the call instead of leaving it stuck",
                 "[calls]") {
  const auto b = connect("call-60m");
  auto id = start(client, b.session);
  call(talent, b.session, R"("action":"accept","call":")" + id + "\"");
  FakePeer again;
  hello_client(again, b.client_token);  // the phone reconnects while the old connection is still open
  CHECK(calls(talent, "ended").back()["reason"] == "peer_gone");
  CHECK(calls(client, "ended").back()["reason"] == "peer_gone");
  CHECK(admin.cancelled.size() == 1);
  CHECK(metrics.calls_active->Value() == 0);
  start(again, b.session);  // not busy
  CHECK(calls(talent, "ringing").size() == 2);
}

TEST_CASE_METHOD(CallFixture, "the session's expiry notice reaches both sides during a call, which goes on",
                 "[calls][timers]") {
  const auto b = connect("call-60m");
  const auto id = start(client, b.session);
  call(talent, b.session, R"("action":"accept","call":")" + id + "\"");
  advance_to(b.expires_at - 5 * 60'000);
  for (auto* p : {&talent, &client}) {
    CHECK(p->last()["notice"] == "expiring");
    CHECK(calls(*p, "ended").empty());
  }
  // At the end the session starts closing, and the call ends with it.
  advance_to(b.expires_at);
  CHECK(calls(client, "ended").back()["reason"] == "session_closed");
}

TEST_CASE_METHOD(CallFixture, "a call keeps the package's idle timeout from ending the session under it",
                 "[calls][timers]") {
  const auto b = connect("call-idle-10m");
  const auto id = start(client, b.session);
  call(talent, b.session, R"("action":"accept","call":")" + id + "\"");
  // Twenty minutes of talk and no message: the session lives on.
  advance_to(t0 + 20 * 60'000);
  CHECK(calls(client, "ended").empty());
  CHECK(mgr->core().find(b.session)->rec.state != proto::SessionState::closing);
  call(client, b.session, R"("action":"hangup","call":")" + id + "\"");
  // From the hang-up the idle time counts again.
  advance_to(t0 + 30 * 60'000 - 1);
  CHECK(mgr->core().find(b.session)->rec.state != proto::SessionState::closing);
  advance_to(t0 + 30 * 60'000);
  CHECK(client.last()["state"] == "closing");
  CHECK(client.last()["reason"] == "expired");
}

TEST_CASE_METHOD(CallFixture, "a clock step drops no call: the ring time and the call minutes move with it",
                 "[calls][timers][clock]") {
  const auto b = connect("call-5min");
  mgr->core().tick();
  auto id = start(client, b.session);
  // NTP sets the clock an hour forward while it rings: it rings on.
  clock.step(std::chrono::hours(1));
  mgr->core().tick();
  CHECK(calls(client, "ended").empty());
  const UnixMs stepped = t0 + 3'600'000;
  advance_to(stepped + 45'000 - 1);
  CHECK(calls(client, "ended").empty());
  advance_to(stepped + 45'000);
  CHECK(calls(client, "ended").back()["reason"] == "no_answer");

  // An answered call keeps its five minutes through a step back, and reports
  // the seconds really talked.
  id = start(talent, b.session);
  call(client, b.session, R"("action":"accept","call":")" + id + "\"");
  const UnixMs answered = clock.now();
  advance_to(answered + 60'000);
  clock.step(-std::chrono::hours(1));
  mgr->core().tick();
  const UnixMs limit = answered - 3'600'000 + 5 * 60'000;
  advance_to(limit - 1);
  CHECK(calls(client, "ended").size() == 1);
  advance_to(limit);
  CHECK(calls(client, "ended").back()["reason"] == "time_limit");
  CHECK(calls(talent, "ended").back()["seconds"] == 300);
}
