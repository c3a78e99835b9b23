#include "relay/http/client_address.hpp"
#include "relay/config/config.hpp"

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

TEST_CASE("the effective config reads back, control characters in strings included", "[config][fuzz]") {
  // Found by tests/fuzz/config.cpp: a "\u0000" in a string was written back
  // raw, and TOML refuses a raw control character. A TURN URL may hold none
  // at all (it goes to the browsers); a notice may.
  CHECK_THAT(error_for("[calls]\nturn_urls = [\"turn:a\\u0000b\"]\n"),
             Catch::Contains("calls.turn_urls") && Catch::Contains(R"("turn:a\u0000b" is not a turn: or turns: URL)"));
  const auto c = parse_config("[sms]\nended_notice = \"a\\u0000b\\u001fc\\u007fd\\te\\nf\\\"g\\\\h\"\n", "/etc/tirai");
  REQUIRE(c.sms.ended_notice == std::string("a\0b\x1f" "c\x7f" "d\te\nf\"g\\h", 15));
  const auto written = effective_config(c);
  CHECK(written.find("\"a\\u0000b\\u001Fc\\u007Fd\\te\\nf\\\"g\\\\h\"") != std::string::npos);
  const auto again = parse_config(written, "/etc/tirai");
  CHECK(again.sms.ended_notice == c.sms.ended_notice);
  CHECK(effective_config(again) == written);
}

TEST_CASE("an empty [packages] table means no package, and the effective config says so", "[config][fuzz]") {
  // Found by tests/fuzz/config.cpp: written back without the table, it read
  // back as the two default packages.
  const auto none = parse_config("[packages]\n", "/etc/tirai");
  CHECK(none.packages.empty());
  const auto written = effective_config(none);
  CHECK_THAT(written, Catch::Contains("[packages]"));
  CHECK(parse_config(written, "/etc/tirai").packages.empty());
  CHECK(parse_config("", "/etc/tirai").packages.size() == 2);
}

TEST_CASE("a time zone too long to be a path is refused as unknown, not thrown past the config's error", "[config][fuzz]") {
  // Found by tests/fuzz/config.cpp: the zone's look-up threw
  // std::filesystem::filesystem_error (File name too long).
  const std::string zone = "Asia/" + std::string(5000, 'W');
  CHECK_THAT(error_for("[policy]\ntimezone = \"" + zone + "\"\n"), Catch::Contains("must be an IANA time zone"));
  CHECK(parse_config("[policy]\ntimezone = \"Asia/Jakarta\"\n", "/etc/tirai").policy.timezone == "Asia/Jakarta");
}

TEST_CASE("a daily window with a negative hour or minute is refused", "[config][fuzz]") {
  // Found by tests/fuzz/config.cpp: from_chars read "-2" as an hour, and
  // the window written back was refused.
  for (const auto* w : {"-2:01-06:00", "22:00--1:00", "22:-1-06:00"}) {
    INFO(w);
    CHECK_THAT(error_for(std::string("[policy]\nkyc_required_hours = \"") + w + "\"\n"),
               Catch::Contains("HH:MM-HH:MM"));
  }
  CHECK(parse_config("[policy]\nkyc_required_hours = \"22:00-06:00\"\n", "/etc/tirai").policy.kyc_required_hours);
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
  // Brackets only around an IPv6 address (a fuzz finding: this one was read
  // as the host "[phone]ic]y.9", written back without the outer brackets,
  // and the config written back was refused).
  CHECK_FALSE(parse_address("[[phone]ic]y.9]:998"));
  CHECK_FALSE(parse_address("[::1]]:80"));
  CHECK_FALSE(parse_address("host]:80"));
}

TEST_CASE("[sms] config: validated with the key named", "[sms][config]") {
  const auto ok = parse_config(R"([sms]
enabled = true
inbound_secret = "0123456789abcdef"
username = "u"
password = "p"
proxy_numbers = ["+6281100000001"]
number_selection = "avoid_sticky"
country_code = "62"
sendsms_url = "http://kannel.local:13013/cgi-bin/sendsms?smsc=carrier"
)",
                               "/etc/tirai");
  CHECK(ok.sms.enabled);
  CHECK(ok.sms.number_selection == NumberSelection::avoid_sticky);
  CHECK(ok.sms.sendsms_url.host == "kannel.local");
  CHECK(ok.sms.sendsms_url.port == 13013);
  CHECK(ok.sms.sendsms_url.target == "/cgi-bin/sendsms?smsc=carrier");
  CHECK_THAT(error_for("[sms]\nenabled = true\n"), Catch::Contains("inbound_secret of at least 16"));
  CHECK_THAT(error_for("[sms]\nenabled = true\n"), Catch::Contains("at least one number in proxy_numbers"));
  CHECK_THAT(error_for("[sms]\nproxy_numbers = [\"0812\"]\n"), Catch::Contains("sms.proxy_numbers (line 2)"));
  CHECK_THAT(error_for("[sms]\nproxy_numbers = [\"+6281100000001\", \"+6281100000001\"]\n"),
             Catch::Contains("listed twice"));
  CHECK_THAT(error_for("[sms]\nsendsms_url = \"https://x/cgi-bin/sendsms\"\n"), Catch::Contains("sms.sendsms_url"));
  CHECK_THAT(error_for("[sms]\ngateway = \"twilio\"\n"), Catch::Contains("sms.gateway"));
  CHECK_THAT(error_for("[sms]\nnumber_selection = \"random\"\n"), Catch::Contains("sms.number_selection"));
  CHECK_THAT(error_for("[sms]\ncountry_code = \"062\"\n"), Catch::Contains("sms.country_code"));
  CHECK_THAT(error_for("[sms]\nstop_words = [\"two words\"]\n"), Catch::Contains("sms.stop_words"));
  CHECK_THAT(error_for("[sms]\nretry_min = \"10s\"\nretry_max = \"1s\"\n"), Catch::Contains("sms.retry_min"));
  CHECK_THAT(error_for("[sms]\nbogus = 1\n"), Catch::Contains("sms.bogus (line 2): unknown key"));
}

TEST_CASE("[phone] config: needs [sms], and its keys are checked", "[phone][config]") {
  const auto ok = parse_config(R"([sms]
enabled = true
inbound_secret = "0123456789abcdef"
username = "u"
password = "p"
proxy_numbers = ["+6281100000001"]
[phone]
enabled = true
listen = "127.0.0.1:9083"
kamailio_rpc = "127.0.0.1:9071"
seam_secret_file = "seam.secret"
)",
                               "/etc/tirai");
  CHECK(ok.phone.enabled);
  CHECK(ok.phone.listen.port == 9083);
  CHECK(ok.phone.kamailio_rpc.port == 9071);
  CHECK(ok.phone.seam_secret_file == "/etc/tirai/seam.secret");
  CHECK_THAT(error_for("[phone]\nenabled = true\n"), Catch::Contains("phone: enabled = true needs [sms] enabled"));
  CHECK_THAT(error_for("[phone]\nring_timeout = \"10ms\"\n"), Catch::Contains("phone.ring_timeout"));
  CHECK_THAT(error_for("[phone]\nkamailio_rpc = \"nowhere\"\n"), Catch::Contains("phone.kamailio_rpc (line 2)"));
  CHECK_THAT(error_for("[phone]\nsip_ws_urls = [\"https://x\"]\n"), Catch::Contains("phone.sip_ws_urls"));
  CHECK_THAT(error_for("[phone]\nsip_domain = \"Bad Domain\"\n"), Catch::Contains("phone.sip_domain"));
  CHECK_THAT(error_for("[phone]\nsip_credential_ttl = \"10s\"\n"), Catch::Contains("phone.sip_credential_ttl"));
}

TEST_CASE("trusted proxies: networks, the forwarded client, and IPv6 counted by its /64", "[config][limits]") {
  namespace ip = boost::asio::ip;
  std::string why;
  CHECK_FALSE(TrustedProxies::parse({"10.0.0.0/33"}, why));
  CHECK(why.find("10.0.0.0/33") != std::string::npos);
  CHECK_FALSE(TrustedProxies::parse({"proxy.example"}, why));
  CHECK_FALSE(TrustedProxies::parse({"10.0.0.0/"}, why));
  const auto t = TrustedProxies::parse({"10.0.0.0/8", "127.0.0.1", "fd00::/8"}, why).value();
  CHECK(t.contains(ip::make_address("10.200.1.1")));
  CHECK(t.contains(ip::make_address("::ffff:10.0.0.1")));  // IPv4-mapped
  CHECK_FALSE(t.contains(ip::make_address("11.0.0.1")));
  CHECK(t.contains(ip::make_address("fd12::1")));
  CHECK_FALSE(t.contains(ip::make_address("2001:db8::1")));

  const auto proxy = ip::make_address("10.0.0.5");
  const auto a = [&](const char* s) { return ip::make_address(s); };
  CHECK(t.client_address(a("203.0.113.1"), "198.51.100.1", "") == a("203.0.113.1"));  // not a proxy: ignored
  CHECK(t.client_address(proxy, "198.51.100.1, 203.0.113.7", "") == a("203.0.113.7"));
  CHECK(t.client_address(proxy, "203.0.113.7, 10.0.0.9", "") == a("203.0.113.7"));  // our own hops are skipped
  CHECK(t.client_address(proxy, "203.0.113.7:5555", "") == a("203.0.113.7"));
  CHECK(t.client_address(proxy, "", R"(for=192.0.2.60;proto=http, for="[2001:db8::17]:4711")") == a("2001:db8::17"));
  CHECK(t.client_address(proxy, "", "for=unknown") == proxy);
  CHECK(t.client_address(proxy, "not an address", "") == proxy);
  CHECK(t.client_address(proxy, "", "") == proxy);

  CHECK(limit_key(a("203.0.113.7")) == "203.0.113.7");
  CHECK(limit_key(a("::ffff:203.0.113.7")) == "203.0.113.7");
  CHECK(limit_key(a("2001:db8:1:2:aaaa::1")) == limit_key(a("2001:db8:1:2:bbbb::9")));
  CHECK(limit_key(a("2001:db8:1:2::1")) != limit_key(a("2001:db8:1:3::1")));
}
