#pragma once
// The end-to-end fixture: a real tiraid per test, with helpers that speak
// the admin API and the WebSocket protocol.
#include "support/temp_dir.hpp"
#include "tools/tiraid_process.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <fmt/format.h>

#ifndef TIRAID_PATH
#error "TIRAID_PATH must name the tiraid under test"
#endif

namespace tirai::test {

using client::WsClient;
namespace json = boost::json;

inline const std::string secret = "correct horse battery";

inline json::object parse(const std::string& s) { return json::parse(s).as_object(); }

// The next frame, which must be of `type`.
inline json::object expect(WsClient& ws, std::string_view type) {
  auto f = parse(ws.receive());
  INFO("frame: " << json::serialize(f));
  REQUIRE(f["type"].as_string() == type);
  return f;
}

struct Relay {
  explicit Relay(std::string extra_toml = {}) : daemon(TIRAID_PATH, dir.path(), std::move(extra_toml)) { daemon.start(); }
  // Started through `launcher` (see TiraidProcess::start_with).
  Relay(std::string extra_toml, std::vector<std::string> launcher)
      : daemon(TIRAID_PATH, dir.path(), std::move(extra_toml)) {
    daemon.start_with(std::move(launcher));
  }

  client::HttpResponse call(std::string_view method, std::string_view target, const json::value& body = nullptr) {
    return daemon.admin().request(method, target, body.is_null() ? std::string() : json::serialize(body));
  }

  void enrol(const std::string& alias) {
    auto r = call("POST", "/v1/talents", json::object{{"alias", alias}, {"secret", secret}});
    REQUIRE(r.status == 201);
  }

  json::object book(const std::string& talent, const std::string& number = "+6281234567890",
                    const std::string& package = "chat-30m") {
    auto r = call("POST", "/v1/sessions", json::object{{"talent", talent}, {"client", number}, {"package", package}});
    INFO(r.body);
    REQUIRE(r.status == 201);
    return parse(r.body);
  }

  WsClient talent(const std::string& alias) {
    auto ws = daemon.ws();
    ws.send(fmt::format(R"({{"type":"hello","role":"talent","alias":"{}","secret":"{}"}})", alias, secret));
    expect(ws, "welcome");
    return ws;
  }

  WsClient client(const json::object& booking) {
    auto ws = daemon.ws();
    ws.send(fmt::format(R"({{"type":"hello","role":"client","token":"{}"}})", booking.at("client_token").as_string()));
    expect(ws, "welcome");
    return ws;
  }

  test::TempDir dir;
  client::TiraidProcess daemon;
};

inline std::string send_frame(const json::object& booking, std::string_view id, std::string_view text) {
  return json::serialize(json::object{{"type", "send"}, {"session", booking.at("session")}, {"id", id}, {"text", text}});
}

// An [sms] table with the tests' inbound secret, sending to a Kannel on
// `sendsms_port` (9, where nothing listens, when Kannel is not the point);
// more of its keys may follow.
inline std::string sms_table(const std::vector<std::string>& proxy_numbers, std::uint16_t sendsms_port = 9) {
  std::string numbers;
  for (const auto& n : proxy_numbers) numbers += (numbers.empty() ? "\"" : ", \"") + n + "\"";
  return fmt::format(
      "[sms]\nenabled = true\nlisten = \"127.0.0.1:0\"\ninbound_secret = \"kannel-to-tirai-0123456789\"\n"
      "sendsms_url = \"http://127.0.0.1:{}/cgi-bin/sendsms\"\nusername = \"u\"\npassword = \"p\"\n"
      "proxy_numbers = [{}]\n",
      sendsms_port, numbers);
}

inline std::string str(const json::value& v) { return std::string(v.as_string()); }

inline std::string sid(const json::object& booking) { return std::string(booking.at("session").as_string()); }


}  // namespace tirai::test
