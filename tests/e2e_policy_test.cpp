// Packages and safety policies end to end, against the real tiraid.
#include "support/relay_fixture.hpp"

#include <signal.h>

#include <ctime>
#include <fstream>

using namespace tirai;
using namespace tirai::test;

namespace {

// "HH:MM-HH:MM" around (or away from) the current UTC time, two hours wide
// either side, so the test does not depend on the hour it runs at.
std::string window_utc(int from_hours, int to_hours) {
  const std::time_t now = std::time(nullptr);
  std::tm a{}, b{};
  const std::time_t ta = now + from_hours * 3600, tb = now + to_hours * 3600;
  gmtime_r(&ta, &a);
  gmtime_r(&tb, &b);
  return fmt::format("{:02}:{:02}-{:02}:{:02}", a.tm_hour, a.tm_min, b.tm_hour, b.tm_min);
}

json::object post(Relay& r, std::string_view target, const json::object& body, unsigned expect_status) {
  auto res = r.call("POST", target, body);
  INFO(target << " -> " << res.body);
  CHECK(res.status == expect_status);
  return res.body.empty() ? json::object{} : parse(res.body);
}

json::object book_raw(Relay& r, const std::string& talent, const std::string& number, const std::string& package,
                      unsigned expect_status) {
  return post(r, "/v1/sessions", json::object{{"talent", talent}, {"client", number}, {"package", package}},
              expect_status);
}

}  // namespace

TEST_CASE("a chat-only session refuses a call, and a voice one hears calls are off without [calls]", "[e2e][policy]") {
  Relay r;
  r.enrol("natasha");
  const auto chat = r.book("natasha", "+6281234567890", "chat-30m");
  const auto voice = r.book("natasha", "+6281234567891", "chat-call-60m");
  auto c1 = r.client(chat);
  c1.send(fmt::format(R"({{"type":"call","session":"{}","action":"start","id":"r1"}})", sid(chat)));
  auto e1 = expect(c1, "error");
  CHECK(e1["code"] == "not_allowed");
  CHECK(e1["message"] == "this session's package has no calls");
  auto c2 = r.client(voice);
  c2.send(fmt::format(R"({{"type":"call","session":"{}","action":"start"}})", sid(voice)));
  CHECK(expect(c2, "error")["message"] == "voice calls are not enabled on this relay");
}

TEST_CASE("the quota boundary: a notice at 90%, the last accepted, the next refused, then closing",
          "[e2e][policy]") {
  Relay r("[packages.chat-10]\nchannels = [\"chat\"]\nduration = \"30m\"\nmax_messages = 10\n");
  r.enrol("natasha");
  const auto b = r.book("natasha", "+6281234567890", "chat-10");
  auto ws = r.client(b);
  for (int i = 1; i <= 9; ++i) {
    ws.send(send_frame(b, fmt::format("c{}", i), "x"));
    expect(ws, "accepted");
  }
  auto notice = expect(ws, "session");
  CHECK(notice["notice"] == "quota");
  CHECK(notice["remaining"] == 1);
  ws.send(send_frame(b, "c10", "the last one"));
  CHECK(expect(ws, "accepted")["seq"] == 10);
  auto closing = expect(ws, "session");
  CHECK(closing["state"] == "closing");
  CHECK(closing["reason"] == "quota_exhausted");
  ws.send(send_frame(b, "c11", "one too many"));
  auto err = expect(ws, "error");
  CHECK(err["code"] == "quota_exhausted");
  CHECK(err["id"] == "c11");
}

TEST_CASE("contact guard redact: the talent sees [hidden], the number is stored nowhere", "[e2e][policy][privacy]") {
  Relay r;
  r.enrol("natasha");
  const auto b = r.book("natasha");
  auto client_ws = r.client(b);
  auto talent_ws = r.talent("natasha");
  client_ws.send(send_frame(b, "c1", "WA aku 0812-9876-5432 atau IG: natasha_cute99"));
  CHECK(expect(client_ws, "accepted")["redacted"] == true);
  auto m = expect(talent_ws, "message");
  CHECK(m["text"] == "[hidden] atau [hidden]");  // a label is hidden with its value
  CHECK(m["redacted"] == true);
  client_ws.send(send_frame(b, "c2", "nomorku 0812 9876"));
  expect(client_ws, "accepted");
  CHECK(expect(talent_ws, "message")["text"] == "nomorku 0812 9876");
  client_ws.send(send_frame(b, "c3", "5432 ya"));
  expect(client_ws, "accepted");
  CHECK(expect(talent_ws, "message")["text"] == "[hidden] ya");
  CHECK(r.daemon.stop() == 0);
  for (const auto& f : std::filesystem::directory_iterator(r.daemon.db_file().parent_path()))
    CHECK_FALSE(file_contains(f.path(), "natasha_cute99"));
}

TEST_CASE("contact guard block: the message is refused with its code and never delivered", "[e2e][policy]") {
  Relay r("[policy]\ncontact_guard = \"block\"\n");
  r.enrol("natasha");
  const auto b = r.book("natasha");
  auto client_ws = r.client(b);
  auto talent_ws = r.talent("natasha");
  for (const auto* text : {"wa.me/6281234567890", "email aku dewi@gmail.com", "0812 3456 7890"}) {
    client_ws.send(send_frame(b, "blocked", text));
    auto err = expect(client_ws, "error");
    CHECK(err["code"] == "contact_details_blocked");
  }
  client_ws.send(send_frame(b, "ok", "harganya Rp 300.000 jam 22:00 ya"));
  CHECK(expect(client_ws, "accepted")["seq"] == 1);  // nothing blocked took a seq
  CHECK(expect(talent_ws, "message")["text"] == "harganya Rp 300.000 jam 22:00 ya");
}

TEST_CASE("KYC: refused inside the window until verified, accepted outside it", "[e2e][policy][kyc]") {
  Relay inside(fmt::format("[policy]\nkyc_required_hours = \"{}\"\ntimezone = \"UTC\"\n", window_utc(-2, 2)));
  inside.enrol("natasha");
  auto refused = book_raw(inside, "natasha", "+6281234567890", "chat-30m", 409);
  CHECK(refused["error"] == "kyc_required");
  post(inside, "/v1/clients/verify", json::object{{"client", "+6281234567890"}, {"method", "ktp_selfie"}}, 200);
  book_raw(inside, "natasha", "+6281234567890", "chat-30m", 201);
  auto looked = post(inside, "/v1/clients/lookup", json::object{{"client", "+6281234567890"}}, 200);
  CHECK(looked["verified"] == true);
  CHECK(looked["verify_method"] == "ktp_selfie");
  CHECK(post(inside, "/v1/clients/verify", json::object{{"client", "+6281234567890"}, {"method", "A photo!"}}, 400)
            ["error"] == "bad_request");

  Relay outside(fmt::format("[policy]\nkyc_required_hours = \"{}\"\ntimezone = \"UTC\"\n", window_utc(3, 7)));
  outside.enrol("natasha");
  book_raw(outside, "natasha", "+6281234567890", "chat-30m", 201);
}

TEST_CASE("ratings: once, while closing, the next talent sees the standing, restriction and release",
          "[e2e][policy][ratings]") {
  Relay r("[policy]\nrestrict_below_rating = 2.5\nrestrict_min_ratings = 2\n[sessions]\ngrace = \"30s\"\n");
  r.enrol("natasha");
  r.enrol("bella");
  const std::string number = "+6281234567890";
  auto natasha = r.talent("natasha");
  for (int i = 0; i < 2; ++i) {
    const auto b = r.book("natasha", number);
    expect(natasha, "session");
    natasha.send(fmt::format(R"({{"type":"rate","session":"{}","score":1}})", sid(b)));
    CHECK(expect(natasha, "error")["code"] == "not_allowed");  // not before the session ends
    natasha.send(fmt::format(R"({{"type":"end","session":"{}"}})", sid(b)));
    CHECK(expect(natasha, "session")["state"] == "closing");
    natasha.send(fmt::format(R"({{"type":"rate","session":"{}","score":1}})", sid(b)));
    CHECK(expect(natasha, "rated")["score"] == 1);
    natasha.send(fmt::format(R"({{"type":"rate","session":"{}","score":5}})", sid(b)));
    CHECK(expect(natasha, "error")["message"] == "this session is already rated");
    natasha.send(fmt::format(R"({{"type":"end","session":"{}"}})", sid(b)));
    CHECK(expect(natasha, "session")["state"] == "closed");
  }
  auto refused = book_raw(r, "bella", number, "chat-30m", 409);
  CHECK(refused["error"] == "client_restricted");
  auto looked = post(r, "/v1/clients/lookup", json::object{{"client", number}}, 200);
  CHECK(looked["restricted"] == true);
  CHECK(looked["rating"].as_object()["count"] == 2);
  CHECK(looked["sessions"] == 2);

  post(r, "/v1/clients/restrict", json::object{{"client", number}, {"restricted", false}}, 200);
  auto bella = r.talent("bella");
  const auto b = r.book("bella", number);
  auto seen = expect(bella, "session");
  auto standing = seen["client"].as_object();
  CHECK(standing["rating"].as_object()["count"] == 2);
  CHECK(standing["rating"].as_object()["average"].to_number<double>() == Approx(1.0));
  CHECK(json::serialize(seen).find("natasha") == std::string::npos);
  CHECK(post(r, "/v1/clients/restrict", json::object{{"client", number}, {"restricted", "yes"}}, 400)["error"] ==
        "bad_request");
}

TEST_CASE("per-pair client alias: the same for one talent, different for another", "[e2e][policy]") {
  Relay r("[sessions]\nclient_alias = \"per_pair\"\n");
  r.enrol("natasha");
  r.enrol("bella");
  const auto first = r.book("natasha");
  r.call("POST", "/v1/sessions/" + sid(first) + "/end");
  r.call("POST", "/v1/sessions/" + sid(first) + "/end");
  const auto again = r.book("natasha");
  CHECK(again.at("client_alias") == first.at("client_alias"));
  const auto other = r.book("bella");
  CHECK(other.at("client_alias") != first.at("client_alias"));
}

TEST_CASE("rate limits: messages per minute and login attempts, with their codes", "[e2e][policy][limits]") {
  Relay r("[policy]\nmessages_per_minute = 3\nlogin_attempts_per_minute = 4\n");
  r.enrol("natasha");
  const auto b = r.book("natasha");
  auto ws = r.client(b);  // login 1 from 127.0.0.1
  for (int i = 1; i <= 3; ++i) {
    ws.send(send_frame(b, fmt::format("c{}", i), "x"));
    expect(ws, "accepted");
  }
  ws.send(send_frame(b, "c4", "x"));
  auto limited = expect(ws, "error");
  CHECK(limited["code"] == "rate_limited");
  CHECK(limited["id"] == "c4");

  std::vector<std::string> answers;
  // Failures count, not logins: the client's right token above took nothing.
  for (const auto* alias : {"natasha", "natasha", "nobody", "natasha", "natasha"}) {
    auto t = r.daemon.ws();
    t.send(fmt::format(R"({{"type":"hello","role":"talent","alias":"{}","secret":"wrong secret"}})", alias));
    answers.push_back(t.receive());
  }
  CHECK(parse(answers[0])["code"] == "auth_failed");
  CHECK(parse(answers[3])["code"] == "auth_failed");
  CHECK(parse(answers[4])["code"] == "rate_limited");
}

TEST_CASE("the corpus through the relay: block refuses contact details, passes the rest", "[e2e][policy][contact]") {
  Relay r("[policy]\ncontact_guard = \"block\"\nmessages_per_minute = 0\n");
  r.enrol("natasha");
  const auto b = r.book("natasha");
  auto ws = r.client(b);
  std::ifstream in(TIRAI_TEST_DATA "/contact_corpus.tsv");
  REQUIRE(in);
  int tp = 0, fp = 0, fn = 0, tn = 0, n = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const bool contact = line[0] == '1';
    ws.send(send_frame(b, fmt::format("m{}", ++n), line.substr(2)));
    auto f = parse(ws.receive());
    const bool blocked = f["type"] == "error";
    if (blocked) CHECK(f["code"] == "contact_details_blocked");
    else CHECK(f["type"] == "accepted");
    if (blocked && contact) ++tp;
    else if (blocked) ++fp;
    else if (contact) ++fn;
    else ++tn;
  }
  const double precision = tp / double(tp + fp), recall = tp / double(tp + fn);
  WARN(fmt::format("through the relay: {} lines, precision {:.3f}, recall {:.3f}", n, precision, recall));
  CHECK(n >= 200);
  CHECK(precision >= 0.95);
  CHECK(recall >= 0.90);
}

TEST_CASE("SIGHUP reloads policy and packages, running sessions keep their package", "[e2e][policy][config]") {
  Relay r("[packages.chat-3]\nchannels = [\"chat\"]\nduration = \"30m\"\nmax_messages = 3\n");
  r.enrol("natasha");
  const auto before = r.book("natasha", "+6281234567890", "chat-3");
  {
    // The reloaded file: the package now allows 1 message, and the guard blocks.
    std::string cfg = read_file(r.daemon.config_file());
    cfg.replace(cfg.find("max_messages = 3"), 16, "max_messages = 1");
    cfg += "[policy]\ncontact_guard = \"block\"\n";
    std::ofstream(r.daemon.config_file()) << cfg;
  }
  const auto from = r.daemon.log_lines();
  r.daemon.signal(SIGHUP);
  REQUIRE(r.daemon.wait_for_log("[daemon] reloaded", from));
  auto ws = r.client(before);
  ws.send(send_frame(before, "c1", "satu"));
  expect(ws, "accepted");
  ws.send(send_frame(before, "c2", "dua"));  // the booked package allowed 3
  expect(ws, "accepted");
  ws.send(send_frame(before, "c3", "0812 3456 7890"));
  CHECK(expect(ws, "error")["code"] == "contact_details_blocked");
  auto pk = parse(r.call("GET", "/v1/packages").body)["packages"].as_array();
  REQUIRE(pk.size() == 1);
  CHECK(pk[0].as_object()["max_messages"] == 1);
}
