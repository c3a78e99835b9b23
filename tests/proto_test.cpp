#include "proto/frames.hpp"
#include "proto/identifiers.hpp"
#include "proto/timefmt.hpp"
#include "proto/utf8.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <cstdio>
#include <ctime>

using namespace tirai::proto;
namespace json = boost::json;

namespace {
const Limits limits{20};

FrameError error_of(std::string_view frame) {
  auto r = parse_frame(frame, limits);
  REQUIRE(std::holds_alternative<FrameError>(r));
  return std::get<FrameError>(r);
}

json::object obj(const std::string& s) { return json::parse(s).as_object(); }
}  // namespace

TEST_CASE("hello frames parse for both roles", "[proto]") {
  auto t = parse_frame(R"({"type":"hello","role":"talent","alias":"natasha","secret":"s3cret-s3cret"})", limits);
  REQUIRE(std::holds_alternative<Hello>(t));
  CHECK(std::get<Hello>(t).role == Role::talent);
  CHECK(std::get<Hello>(t).alias == "natasha");
  CHECK(std::get<Hello>(t).secret == "s3cret-s3cret");
  auto c = parse_frame(R"({"type":"hello","role":"client","token":"abc"})", limits);
  REQUIRE(std::holds_alternative<Hello>(c));
  CHECK(std::get<Hello>(c).token == "abc");
  // A resume ticket stands in for the secret or the token.
  auto r = parse_frame(R"({"type":"hello","role":"talent","resume":"tkt"})", limits);
  REQUIRE(std::holds_alternative<Hello>(r));
  CHECK(std::get<Hello>(r).role == Role::talent);
  CHECK(std::get<Hello>(r).resume == "tkt");
  CHECK(std::get<Hello>(r).secret.empty());
  CHECK(std::get<Hello>(parse_frame(R"({"type":"hello","role":"client","resume":"t"})", limits)).role == Role::client);
  CHECK(error_of(R"({"type":"hello","role":"talent","resume":7})").code == ErrorCode::bad_request);
  CHECK(error_of(R"({"type":"hello","role":"operator","resume":"t"})").code == ErrorCode::bad_request);
  CHECK(std::holds_alternative<Logout>(parse_frame(R"({"type":"logout"})", limits)));
  auto d = parse_frame(R"({"type":"delete_account","secret":"s3cret-s3cret"})", limits);
  REQUIRE(std::holds_alternative<DeleteAccount>(d));
  CHECK(std::get<DeleteAccount>(d).secret == "s3cret-s3cret");
  CHECK(carries_secret(d));
  CHECK(carries_secret(t));
  CHECK_FALSE(carries_secret(parse_frame(R"({"type":"logout"})", limits)));
  CHECK(error_of(R"({"type":"delete_account"})").code == ErrorCode::bad_request);
  CHECK(account_deleted_frame() == R"({"type":"account_deleted"})");
}

TEST_CASE("send, ack, end and rate parse into typed structs", "[proto]") {
  auto s = parse_frame(R"({"type":"send","session":"s_x","id":"m1","text":"halo kak 🙂"})", limits);
  REQUIRE(std::holds_alternative<Send>(s));
  CHECK(std::get<Send>(s).text == "halo kak 🙂");
  CHECK(std::get<Send>(s).id == "m1");
  auto a = parse_frame(R"({"type":"ack","session":"s_x","seq":17})", limits);
  REQUIRE(std::holds_alternative<Ack>(a));
  CHECK(std::get<Ack>(a).seq == 17);
  auto e = parse_frame(R"({"type":"end","session":"s_x"})", limits);
  REQUIRE(std::holds_alternative<End>(e));
  auto r = parse_frame(R"({"type":"rate","session":"s_x","score":5})", limits);
  REQUIRE(std::holds_alternative<Rate>(r));
  CHECK(std::get<Rate>(r).score == 5);
}

TEST_CASE("every malformed frame gets its error code", "[proto]") {
  CHECK(error_of("{not json").code == ErrorCode::bad_request);
  CHECK(error_of("[1,2]").code == ErrorCode::bad_request);
  CHECK(error_of(R"({"role":"client"})").message == "missing field 'type'");
  CHECK(error_of(R"({"type":7})").code == ErrorCode::bad_request);
  CHECK(error_of(R"({"type":"dance"})").code == ErrorCode::unknown_type);
  CHECK(error_of(R"({"type":"hello","role":"admin"})").code == ErrorCode::bad_request);
  CHECK(error_of(R"({"type":"hello","role":"talent","alias":"a"})").message == "missing field 'secret'");
  CHECK(error_of(R"({"type":"send","session":"s","id":"m","text":5})").message == "field 'text' must be a string");
  CHECK(error_of(R"({"type":"send","session":"s","id":"m","text":""})").code == ErrorCode::bad_request);
  CHECK(error_of(R"({"type":"send","session":"s","id":"","text":"x"})").code == ErrorCode::bad_request);
  CHECK(error_of(R"({"type":"send","session":"s","id":5,"text":"x"})").code == ErrorCode::bad_request);
  CHECK(error_of(R"({"type":"ack","session":"s","seq":"1"})").message == "field 'seq' must be an integer");
  CHECK(error_of(R"({"type":"ack","session":"s","seq":-1})").code == ErrorCode::bad_request);
  CHECK(error_of(R"({"type":"rate","session":"s","score":6})").code == ErrorCode::bad_request);
  CHECK(error_of("{\"type\":\"send\",\"session\":\"s\",\"id\":\"m\",\"text\":\"\xff\xfe\"}").message ==
        "frame is not valid UTF-8");
  CHECK(error_of("[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]").code == ErrorCode::bad_request);
}

TEST_CASE("text over max_text_chars is too_large, counted in characters", "[proto]") {
  const std::string twenty_emoji = [] {
    std::string s;
    for (int i = 0; i < 20; ++i) s += "🙂";
    return s;
  }();
  CHECK(std::holds_alternative<Send>(
      parse_frame(R"({"type":"send","session":"s","id":"m","text":")" + twenty_emoji + "\"}", limits)));
  auto e = error_of(R"({"type":"send","session":"s","id":"m","text":")" + twenty_emoji + "x\"}");
  CHECK(e.code == ErrorCode::too_large);
  CHECK(e.id == "m");  // the request id is echoed so the sender knows which message
}

TEST_CASE("a frame larger than the parser's stack buffer parses on the heap", "[proto]") {
  const std::string text(4000, 'k');  // with its frame, past the 4 KiB a typical frame's parse uses
  auto f = parse_frame(R"({"type":"send","session":"s","id":"m","text":")" + text + "\"}", Limits{4096});
  REQUIRE(std::holds_alternative<Send>(f));
  CHECK(std::get<Send>(f).text == text);
  CHECK(error_of(R"({"type":"send","session":"s","id":"m","text":")" + text + "\",}").message == "malformed JSON");
}

TEST_CASE("outbound frames are valid JSON with the documented fields", "[proto]") {
  auto m = obj(message_frame("s_1", 17, "guest-7f3k", "line\n\"quoted\" \x01", 1'700'000'000'123));
  CHECK(m["type"] == "message");
  CHECK(m["seq"] == 17);
  CHECK(m["from"] == "guest-7f3k");
  CHECK(m["text"] == "line\n\"quoted\" \x01");
  CHECK(m["sent_at"] == "2023-11-14T22:13:20.123Z");
  CHECK_FALSE(m.contains("redacted"));
  CHECK(obj(message_frame("s", 1, "a", "b", 0, true))["redacted"] == true);

  auto a = obj(accepted_frame("m1", "s_1", 3));
  CHECK(a == obj(R"({"type":"accepted","id":"m1","session":"s_1","seq":3})"));

  SessionView v{"s_1", "natasha", "chat-30m", {"chat"}, SessionState::open, 0, std::nullopt};
  auto w = obj(welcome_frame(Role::client, {v}));
  CHECK(w["role"] == "client");
  CHECK(w["sessions"].as_array().at(0).as_object()["peer"] == "natasha");
  CHECK(w["sessions"].as_array().at(0).as_object()["expires_at"] == "1970-01-01T00:00:00.000Z");
  CHECK(obj(session_booked_frame(v))["type"] == "session");
  CHECK_FALSE(w.contains("resume"));
  CHECK(obj(welcome_frame(Role::client, {v}, "tkt"))["resume"] == "tkt");
  CHECK(obj(welcome_frame(Role::client, {v}))["calls"] == false);
  CHECK(obj(welcome_frame(Role::client, {v}, "", true))["calls"] == true);

  auto c = obj(session_state_frame("s_1", SessionState::closing, "ended_by_talent", 60));
  CHECK(c == obj(R"({"type":"session","session":"s_1","state":"closing","reason":"ended_by_talent","grace_seconds":60})"));
  CHECK_FALSE(obj(session_state_frame("s_1", SessionState::closed, "expired", std::nullopt)).contains("grace_seconds"));
  CHECK(obj(expiring_notice_frame("s_1", SessionState::active, 300)) ==
        obj(R"({"type":"session","session":"s_1","state":"active","notice":"expiring","expires_in":300})"));
  for (auto code : all_error_codes) {
    auto e = obj(error_frame(code, "msg", std::string("r1")));
    CHECK(e["code"].as_string() == to_string(code));
    CHECK(e["id"] == "r1");
  }
}

TEST_CASE("identifiers: aliases, session ids and E.164 numbers", "[proto]") {
  CHECK(valid_alias("natasha"));
  CHECK(valid_alias("n4_t-a"));
  CHECK_FALSE(valid_alias("n"));
  CHECK_FALSE(valid_alias("_natasha"));
  CHECK_FALSE(valid_alias("Natasha"));
  CHECK_FALSE(valid_alias(std::string(33, 'a')));
  CHECK(valid_session_id("s_abcdefghijklmnopqrstuvwxyz"));
  CHECK_FALSE(valid_session_id("s_abcdefghijklmnopqrstuvwxy1"));
  CHECK(valid_e164("+6281234567890"));
  CHECK_FALSE(valid_e164("6281234567890"));
  CHECK_FALSE(valid_e164("+0812345678"));
  CHECK_FALSE(valid_e164("+1234567"));
  CHECK_FALSE(valid_e164("+1234567890123456"));
  CHECK(normalise_number("0062 812-3456-7890") == "+6281234567890");
  CHECK(normalise_number("+62 (812) 3456.7890") == "+6281234567890");
  CHECK_FALSE(normalise_number("+62 812 34x6"));
}

TEST_CASE("UTF-8 validation rejects overlongs, surrogates and truncation", "[proto]") {
  CHECK(utf8_length("héllo") == 5);
  CHECK(utf8_length("🙂") == 1);
  CHECK_FALSE(valid_utf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(valid_utf8("\xed\xa0\x80"));      // surrogate
  CHECK_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  CHECK_FALSE(valid_utf8("\xe2\x82"));          // truncated
  // Long ASCII runs are checked eight bytes at a time: what follows them still counts.
  CHECK(utf8_length("abcdefghijklmnop") == 16);
  CHECK(utf8_length("abcdefghé12345678ü") == 18);
  CHECK_FALSE(valid_utf8("abcdefghijklmno\xff"));
  CHECK_FALSE(valid_utf8("abcdefgh\xed\xa0\x80" "abcdefgh"));
  CHECK_FALSE(valid_utf8("abcdefghijklmn\xe2\x82"));
}

TEST_CASE("RFC 3339 times round trip", "[proto]") {
  CHECK(rfc3339(0) == "1970-01-01T00:00:00.000Z");
  CHECK(parse_rfc3339("2026-11-22T08:40:36.5Z") == parse_rfc3339("2026-11-22T08:40:36.500Z"));
  const UnixMs t = 1'795'336'836'123;
  CHECK(parse_rfc3339(rfc3339(t)) == t);
  CHECK_FALSE(parse_rfc3339("2026-11-22 08:40:36Z"));
}

TEST_CASE("RFC 3339 formatting agrees with the C library's calendar", "[proto]") {
  CHECK(rfc3339(951'782'400'000) == "2000-02-29T00:00:00.000Z");   // a leap day of a century year
  CHECK(rfc3339(4'107'542'399'999) == "2100-02-28T23:59:59.999Z");  // 2100 is not a leap year
  CHECK(rfc3339(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(rfc3339(253'402'300'799'999) == "9999-12-31T23:59:59.999Z");
  // Every day for 160 years, at a time of day that moves through the hours.
  for (std::int64_t day = -3650; day < 55'000; day += 7) {
    const UnixMs t = day * 86'400'000 + (day * 3'599'999) % 86'400'000 + (day < 0 ? 86'400'000 : 0);
    const auto ms = ((t % 1000) + 1000) % 1000;
    const std::time_t secs = static_cast<std::time_t>((t - ms) / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char want[96];
    std::snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    REQUIRE(rfc3339(t) == want);
    REQUIRE(parse_rfc3339(want) == t);
  }
}

TEST_CASE("call frames parse with their action's fields and refuse the rest", "[proto][calls]") {
  const Limits limits;
  const auto call_of = [&](std::string_view text) {
    auto f = parse_frame(text, limits);
    INFO(text);
    REQUIRE(std::holds_alternative<Call>(f));
    return std::get<Call>(f);
  };
  const auto error_of = [&](std::string_view text) {
    auto f = parse_frame(text, limits);
    INFO(text);
    REQUIRE(std::holds_alternative<FrameError>(f));
    return std::get<FrameError>(f);
  };
  auto c = call_of(R"({"type":"call","action":"start","session":"s_1","id":"r1"})");
  CHECK(c.action == CallAction::start);
  CHECK(c.id == "r1");
  c = call_of(R"({"type":"call","action":"accept","session":"s_1","call":"c_1"})");
  CHECK(c.action == CallAction::accept);
  CHECK(c.call == "c_1");
  c = call_of(R"({"type":"call","action":"sdp","session":"s","call":"c","sdp":{"type":"answer","sdp":"v=0"}})");
  CHECK(c.sdp_type == SdpType::answer);
  CHECK(c.sdp == "v=0");
  c = call_of(R"({"type":"call","action":"candidate","session":"s","call":"c","candidate":)"
              R"({"candidate":"","sdpMid":null,"sdpMLineIndex":0,"usernameFragment":"ab"}})");
  CHECK(c.candidate.candidate.empty());
  CHECK_FALSE(c.candidate.sdp_mid);
  CHECK(c.candidate.sdp_mline_index == 0);
  CHECK(c.candidate.username_fragment == "ab");
  c = call_of(R"({"type":"call","action":"hangup","session":"s","call":"c","reason":"failed"})");
  CHECK(c.failed);
  CHECK_FALSE(call_of(R"({"type":"call","action":"hangup","session":"s","call":"c"})").failed);

  for (const char* bad : {
           R"({"type":"call","action":"video","session":"s"})",
           R"({"type":"call","action":"accept","session":"s"})",
           R"({"type":"call","action":"accept","session":"s","call":7})",
           R"({"type":"call","action":"sdp","session":"s","call":"c","sdp":"v=0"})",
           R"({"type":"call","action":"sdp","session":"s","call":"c","sdp":{"type":"pranswer","sdp":"v=0"}})",
           R"({"type":"call","action":"candidate","session":"s","call":"c","candidate":{"sdpMid":"0"}})",
           R"({"type":"call","action":"candidate","session":"s","call":"c","candidate":{"candidate":"","sdpMLineIndex":-1}})",
           R"({"type":"call","action":"candidate","session":"s","call":"c","candidate":{"candidate":"","sdpMid":5}})",
           R"({"type":"call","action":"hangup","session":"s","call":"c","reason":"bored"})",
       }) {
    CHECK(error_of(bad).code == ErrorCode::bad_request);
  }
  CHECK(error_of(R"({"type":"call","action":"start","id":"r5"})").id == "r5");
}

TEST_CASE("call frames are written as design §11 shows them", "[proto][calls]") {
  const IceServers ice{{"turn:t.example:3478?transport=udp"}, "1:abc", "pw\""};
  auto f = json::parse(call_started_frame("s_1", "c_1", std::string("r1"), ice)).as_object();
  CHECK(f["type"] == "call");
  CHECK(f["action"] == "started");
  CHECK(f["session"] == "s_1");
  CHECK(f["call"] == "c_1");
  CHECK(f["id"] == "r1");
  CHECK(f["ice"].as_object()["transport_policy"] == "relay");
  auto server = f["ice"].as_object()["servers"].as_array()[0].as_object();
  CHECK(server["username"] == "1:abc");
  CHECK(server["credential"] == "pw\"");
  f = json::parse(call_ringing_frame("s_1", "c_1", "guest-7f3k", ice)).as_object();
  CHECK(f["from"] == "guest-7f3k");
  f = json::parse(call_ended_frame("s_1", "c_1", "no_answer", 0)).as_object();
  CHECK(f["reason"] == "no_answer");
  CHECK(f["seconds"] == 0);
  f = json::parse(call_sdp_frame("s", "c", SdpType::offer, "v=0\r\n")).as_object();
  CHECK(f["sdp"].as_object()["sdp"] == "v=0\r\n");
  f = json::parse(call_candidate_frame("s", "c", IceCandidate{"", std::nullopt, 0, std::nullopt})).as_object();
  CHECK(f["candidate"].as_object()["sdpMid"].is_null());
  CHECK_FALSE(f["candidate"].as_object().contains("usernameFragment"));
  f = json::parse(call_expiring_frame("s", "c", 60)).as_object();
  CHECK(f["seconds"] == 60);
}
