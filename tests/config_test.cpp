#include "relay/config.hpp"

#include <catch2/catch.hpp>

using namespace tirai::relay;

namespace {
std::string error_for(std::string_view toml) {
  try {
    parse_config(toml, "/etc/tirai");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST_CASE("the shipped example parses and equals the defaults", "[config]") {
  const auto c = parse_config(example_config(), "/etc/tirai");
  const Config d;
  CHECK(c.relay.listen.str() == d.relay.listen.str());
  CHECK(c.relay.max_frame_bytes == d.relay.max_frame_bytes);
  CHECK(c.relay.idle_timeout == d.relay.idle_timeout);
  CHECK(c.sessions.grace == d.sessions.grace);
  CHECK(c.sessions.retention == std::chrono::hours(24 * 30));
  CHECK(c.store.path == "/etc/tirai/tirai.db");
  CHECK(c.keys.master_key_file == "/etc/tirai/master.key");
  REQUIRE(c.packages.count("chat-30m"));
  CHECK(c.packages.at("chat-call-60m").channels == std::vector<std::string>{"chat", "voice"});
  CHECK_FALSE(c.packages.at("chat-30m").max_messages);
}

TEST_CASE("an empty file runs on defaults", "[config]") {
  const auto c = parse_config("", "/srv");
  CHECK(c.admin.listen.port == 8081);
  CHECK(c.packages.size() == 2);
}

TEST_CASE("config errors name the key and line", "[config]") {
  CHECK(error_for("[relay]\nlisten = \"localhost\"\n") ==
        "invalid configuration:\n  relay.listen (line 2): must be an address \"host:port\"");
  CHECK_THAT(error_for("[relay]\n\nmax_frame_bytes = \"big\"\n"),
             Catch::Contains("relay.max_frame_bytes (line 3): must be an integer"));
  CHECK_THAT(error_for("[relay]\nmax_frame_bytes = 10\n"), Catch::Contains("between 256 and"));
  CHECK_THAT(error_for("[sessions]\ngrace = \"60\"\n"), Catch::Contains("sessions.grace (line 2): must be a duration"));
  CHECK_THAT(error_for("[sessions]\ngrace = \"1w\"\n"), Catch::Contains("sessions.grace"));
  CHECK_THAT(error_for("[relay]\nlisten_port = 80\n"), Catch::Contains("relay.listen_port (line 2): unknown key"));
  CHECK_THAT(error_for("[relya]\n"), Catch::Contains("relya (line 1): unknown section"));
  CHECK_THAT(error_for("[store]\nsynchronous = \"off\"\n"),
             Catch::Contains("store.synchronous (line 2): must be one of \"normal\", \"full\""));
  CHECK_THAT(error_for("[packages.chat]\nchannels = [\"chat\", \"video\"]\n"),
             Catch::Contains("packages.chat.channels (line 2)"));
  CHECK_THAT(error_for("[packages.chat]\nduration = \"0s\"\n"), Catch::Contains("packages.chat.duration"));
  CHECK_THAT(error_for("[log]\nlevel = \"loud\"\n"), Catch::Contains("log.level (line 2)"));
  CHECK_THAT(error_for("[relay\n"), Catch::Contains("line 1"));
  // Every problem is reported at once, not one per start.
  const auto both = error_for("[relay]\nlisten = 1\nidle_timeout = \"x\"\n");
  CHECK_THAT(both, Catch::Contains("relay.listen (line 2)") && Catch::Contains("relay.idle_timeout (line 3)"));
}

TEST_CASE("durations and addresses parse", "[config]") {
  CHECK(parse_duration("500ms") == Millis(500));
  CHECK(parse_duration("90s") == Millis(90'000));
  CHECK(parse_duration("30m") == Millis(1'800'000));
  CHECK(parse_duration("2h") == Millis(7'200'000));
  CHECK(parse_duration("30d") == Millis(2'592'000'000));
  CHECK_FALSE(parse_duration("-1s"));
  CHECK_FALSE(parse_duration("s"));
  CHECK_FALSE(parse_duration("10"));
  CHECK(format_duration(Millis(1'800'000)) == "30m");
  CHECK(parse_address("127.0.0.1:8080")->port == 8080);
  CHECK(parse_address("[::1]:0")->host == "::1");
  CHECK_FALSE(parse_address("127.0.0.1:99999"));
  CHECK_FALSE(parse_address(":80"));
  CHECK_FALSE(parse_address("::1:80"));
}
