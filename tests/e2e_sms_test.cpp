// SMS end to end (issue "Proxy numbers: clients over SMS through Kannel"):
// real bearerbox, smsbox and fakesmsc started here, a real tiraid with [sms].
#include "tools/kannel_process.hpp"
#include "support/relay_fixture.hpp"

namespace tirai::test {

using client::Kannel;
using client::Mt;

namespace {

const std::string inbound_secret = "kannel-to-tirai-0123456789";
const std::string P1 = "+6281100000001";
const std::string P2 = "+6281100000002";
const std::string C1 = "+6281234567890";  // the canary
const std::string C1_digits = "81234567890";
const std::string C2 = "+6285700001111";

std::string sms_toml(const Kannel& k, std::uint16_t port, std::string_view extra_sms = {}) {
  return k.tiraid_sms_toml(port, inbound_secret, {P1, P2}) + "retry_min = \"100ms\"\nretry_max = \"400ms\"\n" +
         std::string(extra_sms) + "[policy]\nlogin_attempts_per_minute = 0\n[log]\nlevel = \"debug\"\n";
}


// Kannel is part of what CI installs (tools/install-deps.sh): missing is a failure, not a skip.
std::filesystem::path kannel_dir(const test::TempDir& dir) {
  if (!Kannel::installed()) throw std::runtime_error("Kannel is not installed: run tools/install-deps.sh");
  return dir.path();
}

struct SmsWorld {
  explicit SmsWorld(std::string_view extra_sms = {}, std::string_view extra_toml = {})
      : kannel(kannel_dir(kdir), sms_port, inbound_secret),
        relay(sms_toml(kannel, sms_port, extra_sms) + std::string(extra_toml)) {
    kannel.start();
  }
  std::optional<Mt> mt_to(const std::string& number, std::string_view text) {
    return kannel.wait_mt([&](const Mt& m) { return m.to == number && m.text == text; });
  }
  // natasha enrolled and online, one session booked for C1 (the talent has read its booking frame).
  std::pair<WsClient, json::object> natasha_with_c1() {
    relay.enrol("natasha");
    auto talent = relay.talent("natasha");
    auto b = relay.book("natasha", C1);
    expect(talent, "session");
    return {std::move(talent), std::move(b)};
  }
  std::size_t count_to(const std::string& number, std::string_view text) {
    std::size_t n = 0;
    for (const auto& m : kannel.mts()) n += m.to == number && m.text == text;
    return n;
  }

  test::TempDir kdir;
  std::uint16_t sms_port = client::free_port();
  Kannel kannel;
  Relay relay;
};

// Proves nothing else reached `ws` first: the next frame answers a probe.
void expect_nothing_pending(WsClient& ws) {
  ws.send(R"({"type":"ack","session":"s_aaaaaaaaaaaaaaaaaaaaaaaaaa","seq":1})");
  auto f = expect(ws, "error");
  CHECK(f["code"] == "not_in_session");
}

}  // namespace

TEST_CASE("an SMS reaches the talent from the client alias and the reply goes back from the proxy number",
          "[e2e][sms]") {
  SmsWorld w;
  w.relay.enrol("natasha");
  auto talent = w.relay.talent("natasha");
  auto b = w.relay.book("natasha", C1);
  REQUIRE(str(b.at("proxy_number")) == P1);
  std::vector<std::string> frames;
  auto next = [&](std::string_view type) {
    auto raw = talent.receive();
    frames.push_back(raw);
    auto f = parse(raw);
    INFO("frame: " << raw);
    REQUIRE(f["type"].as_string() == type);
    return f;
  };
  next("session");

  w.kannel.send(C1, P1, "halo kak, jam 9 bisa?");
  auto m = next("message");
  CHECK(m["session"] == b.at("session"));
  CHECK(m["from"] == b.at("client_alias"));
  CHECK(m["text"] == "halo kak, jam 9 bisa?");
  talent.send(json::serialize(json::object{{"type", "ack"}, {"session", b.at("session")}, {"seq", m["seq"]}}));

  talent.send(send_frame(b, "r1", "bisa, sampai nanti ya"));
  auto mt = w.mt_to(C1, "bisa, sampai nanti ya");
  REQUIRE(mt);
  CHECK(mt->from == P1);
  CHECK(mt->coding == "text");
  // accepted only once Kannel accepted it
  auto acc = next("accepted");
  CHECK(acc["id"] == "r1");

  // Text outside the GSM alphabet travels as UCS-2 both ways.
  w.kannel.send(C1, P1, "Makasih 😀 café", true);
  CHECK(next("message")["text"] == "Makasih 😀 café");
  talent.send(send_frame(b, "r2", "Sama-sama 🙏"));
  mt = w.mt_to(C1, "Sama-sama 🙏");
  REQUIRE(mt);
  CHECK(mt->coding == "ucs-2");
  next("accepted");

  // The canary number is in no frame to the talent, in no log line of
  // tiraid at debug level, and not in clear in the database files.
  for (const auto& f : frames) CHECK(f.find(C1_digits) == std::string::npos);
  CHECK(w.relay.daemon.log().find(C1_digits) == std::string::npos);
  for (const auto& e : std::filesystem::directory_iterator(w.relay.daemon.db_file().parent_path())) {
    INFO(e.path());
    CHECK(test::read_file(e.path()).find(C1_digits) == std::string::npos);
  }
  // The pool shows in /metrics.
  auto metrics = w.relay.call("GET", "/metrics");
  CHECK(metrics.body.find(fmt::format("tirai_sms_proxy_sessions{{number=\"{}\"}} 1", P1)) != std::string::npos);
  CHECK(metrics.body.find(fmt::format("tirai_sms_proxy_sessions{{number=\"{}\"}} 0", P2)) != std::string::npos);
}

TEST_CASE("one client's two sessions get two proxy numbers, two clients share one and never cross", "[e2e][sms]") {
  SmsWorld w;
  w.relay.enrol("natasha");
  w.relay.enrol("mira");
  auto natasha = w.relay.talent("natasha");
  auto mira = w.relay.talent("mira");
  auto c1_natasha = w.relay.book("natasha", C1);
  auto c1_mira = w.relay.book("mira", C1);
  auto c2_natasha = w.relay.book("natasha", C2);
  CHECK(str(c1_natasha.at("proxy_number")) == P1);
  CHECK(str(c1_mira.at("proxy_number")) == P2);
  CHECK(str(c2_natasha.at("proxy_number")) == P1);  // shared with C1's session with natasha
  // A third live session for C1 would need a third number.
  auto r = w.relay.call("POST", "/v1/sessions", json::object{{"talent", "mira"}, {"client", C1}, {"package", "chat-30m"}});
  CHECK(r.status == 409);
  CHECK(parse(r.body)["error"] == "pool_exhausted");
  expect(natasha, "session");
  expect(natasha, "session");
  expect(mira, "session");

  w.kannel.send(C2, P1, "ini dari klien dua");
  auto m = expect(natasha, "message");
  CHECK(m["session"] == c2_natasha.at("session"));
  CHECK(m["from"] == c2_natasha.at("client_alias"));
  w.kannel.send(C1, P1, "ini dari klien satu");
  m = expect(natasha, "message");
  CHECK(m["session"] == c1_natasha.at("session"));
  CHECK(m["from"] == c1_natasha.at("client_alias"));
  w.kannel.send(C1, P2, "halo mira");
  m = expect(mira, "message");
  CHECK(m["session"] == c1_mira.at("session"));
  expect_nothing_pending(natasha);

  natasha.send(send_frame(c2_natasha, "a", "balasan untuk dua"));
  natasha.send(send_frame(c1_natasha, "b", "balasan untuk satu"));
  mira.send(send_frame(c1_mira, "c", "balasan dari mira"));
  auto to_c2 = w.mt_to(C2, "balasan untuk dua");
  auto to_c1 = w.mt_to(C1, "balasan untuk satu");
  auto from_mira = w.mt_to(C1, "balasan dari mira");
  REQUIRE(to_c2);
  REQUIRE(to_c1);
  REQUIRE(from_mira);
  CHECK(to_c2->from == P1);
  CHECK(to_c1->from == P1);
  CHECK(from_mira->from == P2);
  CHECK(w.count_to(C1, "balasan untuk dua") == 0);
  CHECK(w.count_to(C2, "balasan untuk satu") == 0);
}

TEST_CASE("after teardown an SMS is not delivered and gets the out-of-session reply once an hour", "[e2e][sms]") {
  SmsWorld w({}, "[sessions]\ngrace = \"0s\"\n");
  auto [talent, b] = w.natasha_with_c1();
  REQUIRE(w.relay.call("POST", "/v1/sessions/" + sid(b) + "/end").status == 200);
  CHECK(expect(talent, "session")["state"] == "closed");
  REQUIRE(w.mt_to(C1, "Sesi ini telah berakhir, terima kasih. / This session has ended, thank you."));

  const auto reply = "Nomor ini tidak sedang dalam sesi. / This number is not in an open session.";
  const auto from = w.relay.daemon.log_lines();
  w.kannel.send(C1, P1, "halo? masih bisa?");
  REQUIRE(w.mt_to(C1, reply));
  w.kannel.send(C1, P1, "halo???");
  REQUIRE(w.relay.daemon.wait_for_log("was not delivered", from + 1));
  // C2's reply queues behind any second reply to C1: once it is out, C1 had
  // its chance to get a second one.
  w.kannel.send(C2, P1, "siapa ini");
  REQUIRE(w.mt_to(C2, reply));
  CHECK(w.count_to(C1, reply) == 1);
  expect_nothing_pending(talent);
  auto metrics = w.relay.call("GET", "/metrics").body;
  CHECK(metrics.find("tirai_sms_out_of_session_total 3") != std::string::npos);
  CHECK(metrics.find("tirai_sms_out_of_session_replies_total 2") != std::string::npos);
}

TEST_CASE("with Kannel down the talent's reply waits, and is delivered once Kannel is back", "[e2e][sms]") {
  SmsWorld w;
  auto [talent, b] = w.natasha_with_c1();
  w.kannel.stop_smsbox();
  const auto from = w.relay.daemon.log_lines();
  talent.send(send_frame(b, "r1", "maaf telat balas"));
  REQUIRE(w.relay.daemon.wait_for_log("[sms] Kannel sendsms", from));
  REQUIRE(w.relay.daemon.wait_for_log("(try 2)", from));  // retried
  expect_nothing_pending(talent);  // no accepted while Kannel is down
  w.kannel.start_smsbox();
  auto mt = w.mt_to(C1, "maaf telat balas");
  REQUIRE(mt);
  CHECK(mt->from == P1);
  CHECK(expect(talent, "accepted")["id"] == "r1");
  CHECK(w.count_to(C1, "maaf telat balas") == 1);
}

TEST_CASE("erasing a client cancels the notices still waiting for Kannel", "[e2e][sms][privacy]") {
  SmsWorld w;
  auto [talent, b] = w.natasha_with_c1();
  w.kannel.stop_smsbox();
  const auto from = w.relay.daemon.log_lines();
  // The operator ends the session: its ended notice to C1 waits for Kannel.
  REQUIRE(w.relay.call("POST", "/v1/sessions/" + sid(b) + "/end").status == 200);
  REQUIRE(w.relay.daemon.wait_for_log("[sms] Kannel sendsms", from));
  REQUIRE(w.relay.call("POST", "/v1/clients/erase", json::object{{"client", C1}}).status == 200);
  w.kannel.start_smsbox();
  // A later text to another client goes through the same queue, in order:
  // once it has arrived, nothing for C1 is left waiting in front of it.
  auto b2 = w.relay.book("natasha", C2);
  expect(talent, "session");
  talent.send(send_frame(b2, "m2", "halo dari natasha"));
  REQUIRE(w.mt_to(C2, "halo dari natasha"));
  for (const auto& m : w.kannel.mts()) CHECK(m.to != C1);
}

TEST_CASE("an SMS answered to Kannel survives kill -9 of tiraid and reaches the talent after restart", "[e2e][sms]") {
  SmsWorld w;
  w.relay.enrol("natasha");
  auto b = w.relay.book("natasha", C1);
  const auto from = w.relay.daemon.log_lines();
  w.kannel.send(C1, P1, "pesan sebelum crash");
  REQUIRE(w.relay.daemon.wait_for_log("an SMS from the client of session " + sid(b) + " was stored", from));
  w.relay.daemon.kill9();
  w.relay.daemon.start();
  auto ws = w.relay.daemon.ws();
  ws.send(fmt::format(R"({{"type":"hello","role":"talent","alias":"natasha","secret":"{}"}})", secret));
  expect(ws, "welcome");
  auto m = expect(ws, "message");
  CHECK(m["text"] == "pesan sebelum crash");
  CHECK(m["from"] == b.at("client_alias"));
  // The route is back too: the talent's reply still goes out by SMS.
  ws.send(send_frame(b, "r1", "sudah diterima"));
  REQUIRE(w.mt_to(C1, "sudah diterima"));
}

TEST_CASE("send_link texts the session link from the proxy number, kept sealed through kill -9 until Kannel takes it",
          "[e2e][sms][web][privacy]") {
  SmsWorld w;
  w.relay.enrol("natasha");
  // Texting the link needs the proxy number it is sent from.
  CHECK(w.relay
            .call("POST", "/v1/sessions",
                  json::object{{"talent", "natasha"}, {"client", C1}, {"package", "chat-30m"}, {"sms", false},
                               {"send_link", true}})
            .status == 400);
  w.kannel.stop_smsbox();
  auto r = w.relay.call("POST", "/v1/sessions",
                        json::object{{"talent", "natasha"}, {"client", C1}, {"package", "chat-30m"}, {"send_link", true}});
  INFO(r.body);
  REQUIRE(r.status == 201);
  const auto b = parse(r.body);
  CHECK(b.at("link_sent") == true);
  const auto link = str(b.at("client_link"));
  const auto token = str(b.at("client_token"));
  REQUIRE(link.ends_with("/s/#" + token));
  // Answered once stored: the text waits in the outbox, the token sealed in it.
  w.relay.daemon.kill9();
  for (const auto& e : std::filesystem::directory_iterator(w.relay.daemon.db_file().parent_path())) {
    INFO(e.path());
    CHECK(test::read_file(e.path()).find(token) == std::string::npos);
  }
  CHECK(w.relay.daemon.log().find(token) == std::string::npos);
  w.relay.daemon.start();
  w.kannel.start_smsbox();
  const std::string text = "Sesi Anda sudah siap / Your session is ready: " + link;
  auto mt = w.mt_to(C1, text);
  for (const auto& m : w.kannel.mts()) UNSCOPED_INFO("texted to " << m.to << ": " << m.text);
  REQUIRE(mt);
  CHECK(mt->from == P1);
  // The texted link opens the session.
  auto client = w.relay.client(b);
  client.send(send_frame(b, "c1", "sudah buka linknya"));
  CHECK(expect(client, "accepted")["id"] == "c1");
  CHECK(w.count_to(C1, text) == 1);
  CHECK(w.relay.daemon.log().find(token) == std::string::npos);
}

TEST_CASE("a stop word ends the session as ended_by_client", "[e2e][sms]") {
  SmsWorld w;
  auto [talent, b] = w.natasha_with_c1();
  w.kannel.send(C1, P1, " berhenti ");
  auto f = expect(talent, "session");
  CHECK(f["state"] == "closing");
  CHECK(f["reason"] == "ended_by_client");
  REQUIRE(w.mt_to(C1, "Sesi ini telah berakhir, terima kasih. / This session has ended, thank you."));
}

TEST_CASE("bad inbound requests get a clear 4xx, store nothing and log no number", "[e2e][sms]") {
  SmsWorld w("max_text_chars = 20\n");
  auto [talent, b] = w.natasha_with_c1();
  client::AdminClient http("127.0.0.1", w.relay.daemon.sms_port(), "unused");
  auto get = [&](const std::string& query) {
    auto r = http.request("GET", "/v1/sms/kannel?" + query);
    INFO(r.body);
    return std::pair{r.status, r.status >= 300 ? std::string(parse(r.body)["error"].as_string()) : std::string()};
  };
  const auto ok = fmt::format("secret={}&from=%2B{}&to=%2B{}", inbound_secret, C1.substr(1), P1.substr(1));
  CHECK(get(fmt::format("from=%2B{}&to=%2B{}&text=hi", C1.substr(1), P1.substr(1))) == std::pair{403u, std::string("forbidden")});
  CHECK(get(fmt::format("secret=wrong&from=%2B{}&to=%2B{}&text=hi", C1.substr(1), P1.substr(1))) ==
        std::pair{403u, std::string("forbidden")});
  CHECK(get(fmt::format("secret={}&from=abc&to=%2B{}&text=hi", inbound_secret, P1.substr(1))) ==
        std::pair{400u, std::string("invalid_number")});
  CHECK(get(fmt::format("secret={}&from=%2B{}&to=%2B6299999999&text=hi", inbound_secret, C1.substr(1))) ==
        std::pair{404u, std::string("unknown_proxy_number")});
  CHECK(get(ok + "&text=") == std::pair{400u, std::string("empty_text")});
  CHECK(get(ok + "&text=%20%20") == std::pair{400u, std::string("empty_text")});
  CHECK(get(ok + "&text=abcdefghijklmnopqrstuvwxyz") == std::pair{413u, std::string("too_large")});
  CHECK(get(ok + "&text=%FF%FE") == std::pair{400u, std::string("invalid_text")});
  CHECK(get(ok + "&text=%00a%00&charset=UTF-16BE") == std::pair{400u, std::string("invalid_text")});
  CHECK(get(ok + "&text=%ZZ") == std::pair{400u, std::string("bad_request")});
  CHECK(get(ok) == std::pair{400u, std::string("bad_request")});
  CHECK(http.request("POST", "/v1/sms/kannel?" + ok + "&text=hi").status == 405);
  expect_nothing_pending(talent);
  // National numbers are refused without sms.country_code.
  CHECK(get(fmt::format("secret={}&from=0{}&to=%2B{}&text=hi", inbound_secret, C1.substr(3), P1.substr(1))) ==
        std::pair{400u, std::string("invalid_number")});
  // ...and a good one goes through, with "00" for "+".
  CHECK(get(fmt::format("secret={}&from=00{}&to=%2B{}&text=ok%20now", inbound_secret, C1.substr(1), P1.substr(1))) ==
        std::pair{200u, std::string()});
  CHECK(expect(talent, "message")["text"] == "ok now");
  CHECK(w.relay.daemon.log().find(C1_digits) == std::string::npos);
  CHECK(w.relay.daemon.log().find("6299999999") == std::string::npos);
}

}  // namespace tirai::test
