// Phone calls (design §13) in the real Relay with a fake SIP switch and a
// fake SMS gateway: what the seam answers Kamailio for each caller and
// number, one call per session whatever its kind, the seconds and the
// package's minutes, and the hang-up when the session ends.
#include "crypto/turn_credential.hpp"
#include "relay/phone/kamailio_rpc.hpp"
#include "support/fake_gateway.hpp"
#include "support/relay_unit_fixture.hpp"

#include <set>

using namespace tirai;
using namespace tirai::relay;
using namespace tirai::test;

namespace {

class FakeSwitch final : public SipSwitch {
 public:
  void hang_up(std::string dialog, std::string ringing, std::function<void(bool)> done) override {
    hung_up.push_back(dialog);
    ringing_of.push_back(std::move(ringing));
    done(answers);
  }
  void hang_up_all(std::function<bool(const std::string&)> spare, std::function<void(std::optional<int>)> done) override {
    ++swept;
    sweep_spares = std::move(spare);
    sweep_done = std::move(done);
  }
  void play_tone(std::string dialog, std::function<void(bool)> done) override {
    toned.push_back(std::move(dialog));
    done(answers);
  }
  // Kamailio's dialogs: those the seam let through (the fixture adds them)
  // and did not hear the end of, but for the ones it lost track of.
  void list_dialogs(std::function<void(std::optional<std::vector<std::string>>)> done) override {
    ++listings;
    if (!answers) return done(std::nullopt);
    std::vector<std::string> out;
    for (const auto& d : dialogs)
      if (!lost.contains(d)) out.push_back(d);
    done(std::move(out));
  }
  std::set<std::string> dialogs, lost;
  int listings = 0;
  std::vector<std::string> toned;
  std::vector<std::string> hung_up;
  std::vector<std::string> ringing_of;  // per hang-up: the transaction named, "" once answered
  bool answers = true;
  int swept = 0;
  std::function<bool(const std::string&)> sweep_spares;
  std::function<void(std::optional<int>)> sweep_done;
};

class FakeTurn final : public TurnAdmin {
 public:
  void check(std::function<void(bool)> done) override { done(true); }
  void cancel(std::vector<std::string> u, std::function<void(std::optional<int>)> done) override {
    done(static_cast<int>(u.size()));
  }
  void cancel_all(std::function<bool(const std::string&)>, std::function<void(std::optional<int>)> done) override {
    done(0);
  }
};

const std::string P1 = "+6281100000001", P2 = "+6281100000002", C1 = "+6281234567890", C2 = "+6281234567891";

struct PhoneFixture : Fixture {
  PhoneFixture() {
    config.sms.enabled = true;
    config.sms.proxy_numbers = {P1, P2};
    config.sms.country_code = "62";
    config.phone.enabled = true;
    config.phone.ring_timeout = 60s;
    config.phone.sip_ws_urls = {"wss://sip.example.com:8443"};
    config.phone.sip_domain = "tirai.test";
    config.calls.enabled = true;
    config.calls.turn_urls = {"turn:198.51.100.7:3478?transport=udp"};
    config.calls.relay_addresses = {"198.51.100.7"};
    const auto add = [this](std::string name, std::vector<std::string> channels, auto&& tune) {
      Package p{name, std::move(channels), 60min, std::nullopt};
      tune(p);
      config.packages.insert({name, p});
    };
    const auto none = [](Package&) {};
    add("call-60m", {"chat", "voice"}, none);
    add("call-5min", {"chat", "voice"}, [](Package& p) { p.call_minutes = 5; });
    add("call-idle-10m", {"voice"}, [](Package& p) { p.idle_timeout = 10min; });
    add("client-first", {"chat", "voice"}, [](Package& p) { p.first_contact = FirstContact::client; });
    mgr = make_manager();
    mgr->enable_sms(gateway, numbers);
    mgr->enable_calls(turn, crypto::Secret::from(std::string(32, 't')));
    mgr->enable_phone(sip, crypto::Secret::from(std::string(sip_secret)));
    enrol("natasha");
    enrol("dewi");
  }
  ~PhoneFixture() { mgr.reset(); }

  Phone& phone() { return *mgr->phone(); }
  // The seam's answer as Kamailio reads it: "status body".
  std::string in(const std::string& from, const std::string& to, const std::string& dialog,
                 const std::string& transaction = "") {
    const auto a = phone().inbound(from, to, dialog, transaction);
    if (a.status == 200) sip.dialogs.insert(dialog);
    settle();
    return fmt::format("{} {}", a.status, a.body);
  }
  std::string out(const std::string& talent, const std::string& session, const std::string& dialog,
                  const std::string& transaction = "") {
    const auto a = phone().outbound(talent, session, dialog, transaction);
    if (a.status == 200) sip.dialogs.insert(dialog);
    settle();
    return fmt::format("{} {}", a.status, a.body);
  }
  unsigned event(const std::string& dialog, const std::string& what) {
    if (what == "ended") sip.dialogs.erase(dialog);
    const auto status = phone().event(dialog, what).status;
    settle();
    return status;
  }

  const std::string sip_secret = "sip-secret-for-tests-0123456789";
  crypto::KeyArena numbers;
  FakeGateway gateway;
  FakeSwitch sip;
  FakeTurn turn;
};

}  // namespace

TEST_CASE_METHOD(PhoneFixture, "phone: a call from the client's number to the session's proxy number rings its talent",
                 "[phone]") {
  const auto b = book("natasha", C1, "call-60m");
  REQUIRE(b.proxy_number == P1);
  CHECK(in(C1, P1, "101:7") == fmt::format("200 natasha,{},{},3600", b.client_alias, b.session));
  CHECK(phone().in_call(b.session));
  CHECK(metrics.phone_calls_active->Value() == 1);
  // Numbers arrive as carriers write them: national, or with 00.
  CHECK(event("101:7", "ended") == 200);
  CHECK(in("081234567890", "0062 81100000001", "101:8").substr(0, 12) == "200 natasha,");
}

TEST_CASE_METHOD(PhoneFixture, "phone: every call that may not ring gets the same answer", "[phone]") {
  const auto voice = book("natasha", C1, "call-60m");
  const auto chat = book("dewi", C2, "chat-30m");
  const auto ended = book("dewi", C1, "call-60m");  // C1's second session: the other proxy number
  REQUIRE(ended.proxy_number == P2);
  mgr->core().begin_close(*mgr->core().find(ended.session), "ended_by_operator");
  advance_to(t0 + 61'000);  // past the grace: torn down
  REQUIRE_FALSE(mgr->core().find(ended.session));

  const std::string no = "404 ";
  CHECK(in(C1, P2, "1:1") == no);                  // torn down
  CHECK(in(C2, chat.proxy_number, "1:2") == no);   // chat only
  CHECK(in(C1, "+6281199999999", "1:3") == no);    // not a proxy number
  CHECK(in("+6289999999999", P1, "1:4") == no);    // a number with no session
  CHECK(in("anonymous", P1, "1:5") == no);         // no number at all
  CHECK(in(C2, P2, "1:6") == no);                  // a client, the wrong number
  CHECK_FALSE(phone().in_call(voice.session));
  CHECK(phone().active() == 0);
  // A dialog reference that is not Kamailio's is a malformed question.
  CHECK(in(C1, P1, "x:1") == "400 ");
  CHECK(in(C1, P1, "") == "400 ");
}

TEST_CASE_METHOD(PhoneFixture, "phone: a session has one call at a time, by phone or in the browser", "[phone][calls]") {
  const auto b = book("natasha", C1, "call-60m");
  CHECK(in(C1, P1, "5:1").starts_with("200 "));
  CHECK(in(C1, P1, "5:2") == "486 ");
  CHECK(in(C1, P1, "5:1") == "400 ");  // the same dialog twice
  // The browser side of the same session hears busy.
  FakePeer talent, client;
  hello_talent(talent, "natasha");
  hello_client(client, b.client_token);
  frame(client, fmt::format(R"({{"type":"call","session":"{}","action":"start","id":"r1"}})", b.session));
  REQUIRE(client.of_type("error").size() == 1);
  CHECK(client.of_type("error")[0]["code"] == "busy");
  CHECK(event("5:1", "ended") == 200);
  // And the other way round.
  frame(client, fmt::format(R"({{"type":"call","session":"{}","action":"start","id":"r2"}})", b.session));
  INFO(client.frames.back());
  REQUIRE(client.of_type("call").size() >= 1);
  CHECK(in(C1, P1, "5:3") == "486 ");
}

TEST_CASE_METHOD(PhoneFixture, "phone: an answered call counts its seconds and holds the idle timeout", "[phone][timers]") {
  const auto b = book("natasha", C1, "call-idle-10m");
  REQUIRE(in(C1, P1, "9:1").starts_with("200 "));
  advance_to(t0 + 5'000);
  CHECK(event("9:1", "answered") == 200);
  // Half an hour on the phone, no message: the session lives on.
  advance_to(t0 + 5'000 + 30 * 60'000);
  CHECK(mgr->core().find(b.session)->rec.state != proto::SessionState::closing);
  CHECK(event("9:1", "ended") == 200);
  CHECK(st->session(b.session)->call_seconds == 30 * 60);
  CHECK(metrics.phone_call_seconds->Value() == 30 * 60);
  CHECK(sip.hung_up.empty());  // Kamailio ended it; nothing to hang up
  CHECK(event("9:1", "ended") == 404);
  // Ten minutes after the hang-up, idle ends the session.
  advance_to(t0 + 5'000 + 40 * 60'000);
  CHECK(mgr->core().find(b.session)->rec.state == proto::SessionState::closing);
}

TEST_CASE_METHOD(PhoneFixture, "phone: a call whose end Kamailio never reported ends at the next reconcile",
                 "[phone][timers]") {
  const auto b = book("natasha", C1, "call-60m");
  const auto c = book("dewi", C2, "call-60m");
  REQUIRE(in(C1, P1, "4:1").starts_with("200 "));
  REQUIRE(in(C2, c.proxy_number, "4:2").starts_with("200 "));
  CHECK(event("4:1", "answered") == 200);
  CHECK(event("4:2", "answered") == 200);
  // Kamailio ended 4:1 but its report was lost: tiraid still has it up, and
  // a new call into its session would be busy.
  sip.lost.insert("4:1");
  CHECK(in(C1, P1, "4:3") == "486 ");
  advance_to(t0 + 60'000 - 1);
  CHECK(sip.listings == 0);
  CHECK(phone().in_call(b.session));
  // A minute (phone.reconcile_interval) after the first call: Kamailio is asked, 4:1 ends here too.
  advance_to(t0 + 60'000);
  CHECK(sip.listings == 1);
  CHECK_FALSE(phone().in_call(b.session));
  CHECK(st->session(b.session)->call_seconds == 60);
  CHECK(sip.hung_up.empty());  // nothing to hang up: Kamailio has no such call
  CHECK(phone().in_call(c.session));  // the call Kamailio still has goes on
  CHECK(metrics.phone_calls_active->Value() == 1);
  CHECK(in(C1, P1, "4:4").starts_with("200 "));
  CHECK(event("4:4", "answered") == 200);
  // Its late report, should it come, finds nothing.
  CHECK(event("4:1", "ended") == 404);
  // Asked again each minute while calls are up; not when none is.
  advance_to(t0 + 120'000);
  CHECK(sip.listings == 2);
  CHECK(event("4:2", "ended") == 200);
  CHECK(event("4:4", "ended") == 200);
  advance_to(t0 + 10 * 60'000);
  CHECK(sip.listings == 2);  // the next deadline found no call, and stopped asking
  // A Kamailio that cannot be asked ends nothing.
  sip.answers = false;
  const auto d = book("natasha", C1, "call-60m");
  REQUIRE(in(C1, d.proxy_number, "4:5").starts_with("200 "));
  CHECK(event("4:5", "answered") == 200);
  advance_to(t0 + 12 * 60'000);
  CHECK(sip.listings == 3);
  CHECK(phone().in_call(d.session));
}

TEST_CASE_METHOD(PhoneFixture, "phone: the session's end hangs its phone call up", "[phone]") {
  const auto b = book("natasha", C1, "call-60m");
  REQUIRE(in(C1, P1, "3:1").starts_with("200 "));
  CHECK(event("3:1", "answered") == 200);
  advance_to(t0 + 20'000);
  mgr->core().begin_close(*mgr->core().find(b.session), "ended_by_operator");
  settle();
  CHECK(sip.hung_up == std::vector<std::string>{"3:1"});
  CHECK_FALSE(phone().in_call(b.session));
  CHECK(st->session(b.session)->call_seconds == 20);
  // In its grace period, and after, the number reaches no one.
  CHECK(in(C1, P1, "3:2") == "404 ");
  advance_to(t0 + 90'000);
  CHECK(in(C1, P1, "3:3") == "404 ");
  // A Kamailio that could not be asked is counted.
  sip.answers = false;
  const auto c = book("natasha", C1, "call-60m");
  REQUIRE(in(C1, c.proxy_number, "3:4").starts_with("200 "));
  mgr->core().begin_close(*mgr->core().find(c.session), "ended_by_operator");
  settle();
  CHECK(metrics.sip_failures->Value() == 1);
}

TEST_CASE_METHOD(PhoneFixture, "phone: a call still ringing is ended on its INVITE's transaction, an answered one with BYEs",
                 "[phone]") {
  const auto a = book("natasha", C1, "call-60m");
  const auto b = book("dewi", C2, "call-60m");
  REQUIRE(in(C1, a.proxy_number, "8:1", "101:7").starts_with("200 "));
  REQUIRE(out("dewi", b.session, "8:2", "102:9").starts_with("200 "));
  CHECK(event("8:2", "answered") == 200);
  mgr->core().begin_close(*mgr->core().find(a.session), "ended_by_operator");
  mgr->core().begin_close(*mgr->core().find(b.session), "ended_by_operator");
  settle();
  CHECK(sip.hung_up == std::vector<std::string>{"8:1", "8:2"});
  CHECK(sip.ringing_of == std::vector<std::string>{"101:7", ""});
  // Kamailio reports the ringing call answered after all (its 200 crossed
  // the end): the relay no longer knows it, and says so.
  CHECK(event("8:1", "answered") == 404);
  // A transaction that is not Kamailio's "index:label" is refused like a bad dialog.
  CHECK(in(C1, a.proxy_number, "8:3", "x:1") == "400 ");
  CHECK(in(C1, a.proxy_number, "8:3", "1") == "400 ");
}

TEST_CASE("phone: Kamailio's JSON-RPC: a ringing call's transaction answered 480", "[phone]") {
  CHECK(cancel_request("101:7", 3) ==
        R"({"jsonrpc":"2.0","method":"tm.reply","params":[480,"Temporarily Unavailable","101:7","ended","",""],"id":3})");
  CHECK_FALSE(cancel_request("101", 1));
  CHECK_FALSE(cancel_request("1:4294967296", 1));
  CHECK(rpc_succeeded(R"({"jsonrpc":"2.0","result":{},"id":3})"));
  CHECK_FALSE(rpc_succeeded(R"({"jsonrpc":"2.0","error":{"code":500,"message":"Reply failed"},"id":3})"));
  CHECK_FALSE(rpc_succeeded("{"));
}

TEST_CASE_METHOD(PhoneFixture, "phone: the package's call minutes end a phone call and then refuse the next", "[phone][timers]") {
  const auto b = book("natasha", C1, "call-5min");
  CHECK(in(C1, P1, "4:1") == fmt::format("200 natasha,{},{},300", b.client_alias, b.session));
  CHECK(event("4:1", "answered") == 200);
  advance_to(t0 + 5 * 60'000 - 1);
  CHECK(sip.hung_up.empty());
  advance_to(t0 + 5 * 60'000);
  CHECK(sip.hung_up == std::vector<std::string>{"4:1"});
  CHECK(st->session(b.session)->call_seconds == 300);
  CHECK(in(C1, P1, "4:2") == "404 ");
}

TEST_CASE_METHOD(PhoneFixture, "phone: one minute before a call must end, the phone hears a tone", "[phone][timers]") {
  // Call minutes: five, so the tone at four.
  const auto b = book("natasha", C1, "call-5min");
  REQUIRE(in(C1, P1, "9:1").starts_with("200 "));
  advance_to(t0 + 10'000);
  CHECK(event("9:1", "answered") == 200);
  advance_to(t0 + 10'000 + 4 * 60'000 - 1);
  CHECK(sip.toned.empty());
  advance_to(t0 + 10'000 + 4 * 60'000);
  CHECK(sip.toned == std::vector<std::string>{"9:1"});
  CHECK(metrics.phone_tones_played->Value() == 1);
  advance_to(t0 + 10'000 + 5 * 60'000);
  CHECK(sip.toned.size() == 1);
  CHECK(sip.hung_up == std::vector<std::string>{"9:1"});
  // The session's own end comes first for a call in its last minutes: the
  // tone is a minute before that (the session lasts 60 minutes).
  const auto c = book("dewi", C2, "call-60m");
  REQUIRE(in(C2, c.proxy_number, "9:2").starts_with("200 "));
  CHECK(event("9:2", "answered") == 200);
  const auto expires = mgr->core().find(c.session)->rec.expires_at;
  advance_to(expires - 60'001);
  CHECK(sip.toned.size() == 1);
  sip.answers = false;
  advance_to(expires - 60'000);
  CHECK(sip.toned == std::vector<std::string>{"9:1", "9:2"});
  CHECK(metrics.phone_tones_failed->Value() == 1);
  (void)b;
}

TEST_CASE_METHOD(PhoneFixture, "phone: a call nobody answers is hung up after the ring timeout", "[phone][timers]") {
  book("natasha", C1, "call-60m");
  REQUIRE(in(C1, P1, "6:1").starts_with("200 "));
  advance_to(t0 + 59'999);
  CHECK(sip.hung_up.empty());
  advance_to(t0 + 60'000);
  CHECK(sip.hung_up == std::vector<std::string>{"6:1"});
  CHECK(phone().active() == 0);
}

TEST_CASE_METHOD(PhoneFixture, "phone: the talent calls back only inside her live session, from its proxy number",
                 "[phone]") {
  const auto b = book("natasha", C1, "call-60m");
  CHECK(out("natasha", b.session, "7:1") == fmt::format("200 {},{},3600", C1, P1));
  CHECK(event("7:1", "ended") == 200);
  CHECK(out("dewi", b.session, "7:2") == "404 ");           // not her session
  CHECK(out("natasha", "s_nosuchsession", "7:3") == "404 ");
  // A session booked without a proxy number has no number to call back.
  std::optional<BookResult> unproxied;
  mgr->bookings().book({"natasha", C2, "call-60m", false}, [&](BookResult r) { unproxied = std::move(r); });
  settle();
  REQUIRE(unproxied);
  REQUIRE(std::holds_alternative<Booking>(*unproxied));
  CHECK(out("natasha", std::get<Booking>(*unproxied).session, "7:4") == "404 ");
  // First contact is the client's: not before the client called.
  const auto shy = book("dewi", C2, "client-first");
  CHECK(out("dewi", shy.session, "7:5") == "404 ");
  REQUIRE(in(C2, shy.proxy_number, "7:6").starts_with("200 "));
  CHECK(event("7:6", "ended") == 200);
  CHECK(out("dewi", shy.session, "7:7").substr(0, 19) == "200 " + C2 + ",");
  CHECK(event("7:7", "ended") == 200);
  // After the session's end, no more.
  mgr->core().begin_close(*mgr->core().find(b.session), "ended_by_operator");
  settle();
  CHECK(out("natasha", b.session, "7:8") == "404 ");
}

TEST_CASE("phone: Kamailio's JSON-RPC: the end of a dialog, and its answers", "[phone]") {
  CHECK(end_dialog_request("12:345", 7) == R"({"jsonrpc":"2.0","method":"dlg.end_dlg","params":[12,345],"id":7})");
  CHECK_FALSE(end_dialog_request("12", 1));
  CHECK_FALSE(end_dialog_request("a:1", 1));
  CHECK_FALSE(end_dialog_request("1:99999999999", 1));
  CHECK(rpc_dialog_gone(R"({"jsonrpc":"2.0","result":{},"id":1})"));
  CHECK(rpc_dialog_gone(R"({"jsonrpc":"2.0","error":{"code":404,"message":"Dialog not found"},"id":1})"));
  CHECK_FALSE(rpc_dialog_gone(R"({"jsonrpc":"2.0","error":{"code":500,"message":"Failed"},"id":1})"));
  CHECK_FALSE(rpc_dialog_gone(R"({"jsonrpc":"2.0","error":"x","id":1})"));
  CHECK_FALSE(rpc_dialog_gone("not json"));
  // dlg.list as Kamailio 5.6 answers it: only the dialogs marked as tiraid's.
  const auto listing = R"({"jsonrpc":"2.0","result":[)"
                       R"({"h_entry":3462,"h_id":11307,"from_uri":"sip:+6281234567895@x","variables":[{"ftag":"a"},{"tirai":"1"}]},)"
                       R"({"h_entry":7,"h_id":8,"variables":[]},)"
                       R"({"h_entry":"9","h_id":1,"variables":[{"tirai":"1"}]},)"
                       R"({"h_entry":10,"h_id":11,"variables":[{"tirai":"0"}]}],"id":1})";
  CHECK(tirai_dialogs(listing) == std::vector<std::string>{"3462:11307"});
  CHECK(tirai_dialogs(R"({"jsonrpc":"2.0","result":[],"id":1})").empty());
  CHECK(tirai_dialogs("[]").empty());
  CHECK(valid_dialog_ref("0:0"));
  CHECK_FALSE(valid_dialog_ref(":1"));
  CHECK_FALSE(valid_dialog_ref("1:"));
  CHECK_FALSE(valid_dialog_ref("1:2:3"));
}

TEST_CASE_METHOD(PhoneFixture, "phone: a talent's console gets her SIP account, and sees which clients it can call by phone",
                 "[phone]") {
  const auto by_number = book("natasha", C1, "call-60m");
  const auto chat = book("natasha", C2, "chat-30m");
  FakePeer talent;
  hello_talent(talent, "natasha");
  auto phone = talent.of_type("phone");
  REQUIRE(phone.size() == 1);
  CHECK(phone[0]["ws"].as_array().at(0) == "wss://sip.example.com:8443");
  CHECK(phone[0]["domain"] == "tirai.test");
  const std::string username(phone[0]["username"].as_string());
  const auto expiry = (t0 + 12 * 3600'000) / 1000;
  CHECK(username == fmt::format("{}:natasha", expiry));
  // auth_ephemeral's scheme: base64(HMAC-SHA1(secret, username)).
  CHECK(phone[0]["password"] == crypto::turn_password(crypto::Secret::from(std::string(sip_secret)), username).c_str());
  // With browser calls on, her phone calls' media goes through the same TURN
  // server, relay only, on a credential of tirai's form that ends with her SIP one.
  const auto& ice = phone[0].at("ice").as_object();
  CHECK(ice.at("transport_policy") == "relay");
  const auto& server = ice.at("servers").as_array().at(0).as_object();
  CHECK(server.at("urls").as_array().at(0) == "turn:198.51.100.7:3478?transport=udp");
  const std::string turn_user(server.at("username").as_string());
  CHECK(turn_user.starts_with(fmt::format("{}:", expiry)));
  CHECK(server.at("credential") ==
        crypto::turn_password(crypto::Secret::from(std::string(32, 't')), turn_user).c_str());
  // The welcome came first, and marks the session whose client has a proxy number and voice.
  REQUIRE(talent.frames.front().find("\"welcome\"") != std::string::npos);
  const auto welcome = talent.of_type("welcome");
  REQUIRE(welcome.size() == 1);
  for (const auto& v : welcome[0].at("sessions").as_array()) {
    const auto& o = v.as_object();
    CHECK(o.contains("by_phone") == (o.at("session") == by_number.session.c_str()));
  }
  (void)chat;
  // A client's page gets no SIP account.
  FakePeer client;
  hello_client(client, by_number.client_token);
  CHECK(client.of_type("phone").empty());
}

TEST_CASE_METHOD(PhoneFixture, "phone: a clock step hangs up no call: ring time, tone and minutes move with it",
                 "[phone][timers][clock]") {
  book("natasha", C1, "call-60m");
  mgr->core().tick();
  REQUIRE(in(C1, P1, "7:1").starts_with("200 "));
  clock.step(std::chrono::hours(2));
  mgr->core().tick();
  CHECK(sip.hung_up.empty());
  const UnixMs stepped = t0 + 2 * 3'600'000;
  advance_to(stepped + 59'999);
  CHECK(sip.hung_up.empty());
  advance_to(stepped + 60'000);
  CHECK(sip.hung_up == std::vector<std::string>{"7:1"});

  // Five call minutes, answered, then the clock an hour back: the tone and
  // the end come four and five minutes after the answer all the same.
  const auto b = book("dewi", C2, "call-5min");
  REQUIRE(in(C2, b.proxy_number, "7:2").starts_with("200 "));
  CHECK(event("7:2", "answered") == 200);
  const UnixMs answered = clock.now();
  advance_to(answered + 60'000);
  clock.step(-std::chrono::hours(1));
  mgr->core().tick();
  const UnixMs back = answered - 3'600'000;
  advance_to(back + 4 * 60'000 - 1);
  CHECK(sip.toned.empty());
  advance_to(back + 4 * 60'000);
  CHECK(sip.toned == std::vector<std::string>{"7:2"});
  advance_to(back + 5 * 60'000);
  CHECK(sip.hung_up == std::vector<std::string>{"7:1", "7:2"});
  CHECK(st->session(b.session)->call_seconds == 300);
}

TEST_CASE_METHOD(PhoneFixture, "phone: the start-up's hang-up of an earlier run's calls spares this run's", "[phone]") {
  phone().start();
  CHECK(sip.swept == 1);
  REQUIRE(sip.sweep_spares);
  CHECK_FALSE(sip.sweep_spares("9:90"));  // an earlier run's
  // Kamailio was down at start-up, and the hang-up waits for it; a call let
  // through once it is back is spared when the hang-up runs at last.
  const auto b = book("natasha", C1, "call-60m");
  CHECK(in(C1, P1, "101:7").starts_with("200 "));
  CHECK(sip.sweep_spares("101:7"));
  CHECK_FALSE(sip.sweep_spares("9:90"));
  sip.sweep_done(1);
  CHECK(event("101:7", "ended") == 200);
  // Once it has run, nothing more is kept for it.
  CHECK(in(C1, P1, "101:8").starts_with("200 "));
  CHECK_FALSE(sip.sweep_spares("101:8"));
  CHECK_FALSE(sip.sweep_spares("101:7"));
  CHECK(phone().in_call(b.session));
}
