#include "tools/bench/sms.hpp"

#include "tools/bench/histogram.hpp"
#include "tools/kannel_process.hpp"
#include "tools/tiraid_process.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <stdexcept>

namespace tirai::bench {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Indexes of the carrier's "Got message" lines from `from` on, with their times.
std::vector<Clock::time_point> delivered(const client::LoggedProcess& carrier, std::size_t from) {
  std::vector<Clock::time_point> out;
  const auto lines = carrier.lines(from);
  const auto times = carrier.line_times(from);
  for (std::size_t i = 0; i < lines.size() && i < times.size(); ++i)
    if (lines[i].find("Got message") != std::string::npos) out.push_back(times[i]);
  return out;
}

void wait_delivered(client::LoggedProcess& carrier, std::size_t from, std::size_t n) {
  for (;;) {
    const auto seen = carrier.log_lines();  // before looking, so a line in between is not missed
    if (delivered(carrier, from).size() >= n) return;
    if (!carrier.wait_for_log("Got message", seen, std::chrono::seconds(60)))
      throw std::runtime_error(fmt::format("the carrier got {} of {} SMS", delivered(carrier, from).size(), n));
  }
}

// The peer: the same SMS pushed straight into Kannel's sendsms, one request
// at a time over one keep-alive connection (as tiraid does), without tirai.
double kannel_direct(client::Kannel& kannel, const std::vector<std::pair<std::string, std::string>>& pairs,
                     std::size_t n) {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  namespace http = beast::http;
  asio::io_context ioc;
  asio::ip::tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  const auto url = kannel.sendsms_url();  // http://127.0.0.1:PORT/cgi-bin/sendsms
  const auto port = url.substr(17, url.find('/', 17) - 17);
  stream.connect(resolver.resolve("127.0.0.1", port));
  stream.socket().set_option(asio::ip::tcp::no_delay(true));
  auto& carrier = kannel.carrier();
  const auto from = carrier.log_lines();
  const auto t0 = Clock::now();
  beast::flat_buffer buffer;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& [proxy, client] = pairs[i % pairs.size()];
    http::request<http::empty_body> req{
        http::verb::get,
        fmt::format("/cgi-bin/sendsms?username={}&password={}&from=%2B{}&to=%2B{}&text=pesan+{}+langsung&charset=UTF-8&coding=0",
                    client::Kannel::username, kannel.password(), proxy.substr(1), client.substr(1), i),
        11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(true);
    http::write(stream, req);
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    if (res.result_int() / 100 != 2) throw std::runtime_error(fmt::format("Kannel answered {}", res.result_int()));
  }
  wait_delivered(carrier, from, n);
  return static_cast<double>(n) / seconds(delivered(carrier, from)[n - 1] - t0);
}

json::object latency_row(const Histogram& h) {
  return {{"p50_ms", static_cast<double>(h.quantile(0.5)) / 1e6},
          {"p99_ms", static_cast<double>(h.quantile(0.99)) / 1e6},
          {"max_ms", static_cast<double>(h.max()) / 1e6}};
}

}  // namespace

json::object sms_gateway(const SmsOptions& o) {
  std::string templ = "/tmp/tirai-bench-sms-XXXXXX";
  if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
  const std::filesystem::path dir = templ;
  struct Cleanup {
    std::filesystem::path d;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(d, ec);
    }
  } cleanup{dir};

  const std::string secret = "bench-inbound-secret-0123456789";
  const auto sms_port = client::free_port();
  client::Kannel kannel(dir / "kannel", sms_port, secret);
  std::vector<std::string> proxies;
  for (int i = 1; i <= 4; ++i) proxies.push_back(fmt::format("+62811000000{:02}", i));
  std::filesystem::create_directories(dir / "relay");
  client::TiraidProcess relay(o.tiraid, dir / "relay",
                              kannel.tiraid_sms_toml(sms_port, secret, proxies) +
                                  "[policy]\nmessages_per_minute = 0\nlogin_attempts_per_minute = 0\n"
                                  "contact_guard = \"off\"\n");
  relay.start();
  kannel.start();
  std::cerr << "sms: tiraid and Kannel up; booking " << o.sessions << " SMS sessions\n";

  auto admin = relay.admin();
  const std::string talent_secret = "bench talent secret";
  admin.request("POST", "/v1/talents", json::serialize(json::object{{"alias", "bench"}, {"secret", talent_secret}}));
  struct Booked {
    std::string session, client, proxy;
  };
  std::vector<Booked> booked;
  for (std::size_t i = 0; i < o.sessions; ++i) {
    const auto client = fmt::format("+628570000{:04}", i);
    auto r = admin.request("POST", "/v1/sessions",
                           json::serialize(json::object{{"talent", "bench"}, {"client", client}, {"package", "chat-30m"}}));
    if (r.status != 201) throw std::runtime_error("booking failed: " + r.body);
    auto b = json::parse(r.body).as_object();
    booked.push_back({std::string(b.at("session").as_string()), client, std::string(b.at("proxy_number").as_string())});
  }
  auto ws = relay.ws();
  ws.send(json::serialize(json::object{{"type", "hello"}, {"role", "talent"}, {"alias", "bench"}, {"secret", talent_secret}}));
  ws.receive();  // welcome
  auto send = [&](const Booked& b, std::size_t id, std::string_view text) {
    ws.send(json::serialize(
        json::object{{"type", "send"}, {"session", b.session}, {"id", std::to_string(id)}, {"text", text}}));
  };
  auto next_of = [&](std::string_view type) {
    for (;;) {
      auto f = json::parse(ws.receive()).as_object();
      if (f["type"].as_string() == type) return f;
    }
  };
  json::object row{{"target", "tirai+kannel"}, {"workload", "sms"}, {"sessions", o.sessions}};
  std::size_t id = 0;

  // Talent to phone, as fast as tiraid and Kannel take them (32 in flight).
  {
    auto& carrier = kannel.carrier();
    const auto from = carrier.log_lines();
    const auto t0 = Clock::now();
    std::size_t sent = 0, accepted = 0;
    while (accepted < o.messages) {
      while (sent < o.messages && sent - accepted < 32) {
        send(booked[sent % booked.size()], ++id, fmt::format("pesan {} dari talent", sent));
        ++sent;
      }
      next_of("accepted");
      ++accepted;
    }
    const auto t_accepted = Clock::now();
    wait_delivered(carrier, from, o.messages);
    const auto t_delivered = delivered(carrier, from)[o.messages - 1];
    row["out_accepted_per_s"] = static_cast<double>(o.messages) / seconds(t_accepted - t0);
    row["out_delivered_per_s"] = static_cast<double>(o.messages) / seconds(t_delivered - t0);
    std::cerr << fmt::format("sms: talent->phone {} SMS, {:.0f}/s accepted by Kannel\n", o.messages,
                             static_cast<double>(o.messages) / seconds(t_accepted - t0));
  }
  // The peer, in the same run: the same SMS straight into Kannel.
  {
    std::vector<std::pair<std::string, std::string>> pairs;
    for (const auto& b : booked) pairs.emplace_back(b.proxy, b.client);
    const double direct = kannel_direct(kannel, pairs, o.messages);
    row["kannel_direct_delivered_per_s"] = direct;
    row["out_vs_kannel_direct"] = row["out_delivered_per_s"].as_double() / direct;
    std::cerr << fmt::format("sms: the same {} SMS straight into Kannel: {:.0f}/s\n", o.messages, direct);
  }
  // Talent to phone, one at a time: send to the carrier's "Got message".
  {
    Histogram h;
    auto& carrier = kannel.carrier();
    for (std::size_t i = 0; i < o.samples; ++i) {
      const auto from = carrier.log_lines();
      const auto t = Clock::now();
      send(booked[i % booked.size()], ++id, fmt::format("latensi {}", i));
      wait_delivered(carrier, from, 1);
      h.record(static_cast<std::uint64_t>(std::chrono::nanoseconds(delivered(carrier, from)[0] - t).count()));
      next_of("accepted");
    }
    row["out_latency"] = latency_row(h);
  }
  // Phone to talent, as fast as the carrier sends (fakesmsc -i 0).
  {
    std::vector<std::string> lines;
    for (const auto& b : booked) lines.push_back(fmt::format("{} {} text halo dari klien", b.client, b.proxy));
    kannel.carrier_sends(lines, static_cast<long>(o.messages), 0);
    const auto t0 = kannel.carrier().started_at();
    for (std::size_t i = 0; i < o.messages; ++i) next_of("message");
    const auto t1 = Clock::now();
    row["in_delivered_per_s"] = static_cast<double>(o.messages) / seconds(t1 - t0);
    std::cerr << fmt::format("sms: phone->talent {} SMS, {:.0f}/s\n", o.messages,
                             static_cast<double>(o.messages) / seconds(t1 - t0));
  }
  // Phone to talent, one every 50 ms: the carrier's "sent message" to the talent's frame.
  {
    Histogram h;
    const auto& b = booked[0];
    kannel.carrier_sends({fmt::format("{} {} text latensi dari klien", b.client, b.proxy)},
                         static_cast<long>(o.samples), 0.05);
    std::vector<Clock::time_point> received;
    for (std::size_t i = 0; i < o.samples; ++i) {
      next_of("message");
      received.push_back(Clock::now());
    }
    // The carrier's log is read by a thread of its own: its last "sent
    // message" lines may come in after the talent's frames did.
    const auto sent_lines = [&] {
      std::size_t n = 0;
      for (const auto& l : kannel.carrier().lines()) n += l.find("sent message") != std::string::npos;
      return n;
    };
    for (int tries = 0; sent_lines() < o.samples && tries < 30; ++tries)
      kannel.carrier().wait_for_log("sent message", kannel.carrier().log_lines(), std::chrono::milliseconds(500));
    std::vector<Clock::time_point> sent_at;
    const auto lines = kannel.carrier().lines();
    const auto times = kannel.carrier().line_times();
    for (std::size_t i = 0; i < lines.size() && i < times.size(); ++i)
      if (lines[i].find("sent message") != std::string::npos) sent_at.push_back(times[i]);
    for (std::size_t i = 0; i < std::min(sent_at.size(), received.size()); ++i)
      h.record(static_cast<std::uint64_t>(std::chrono::nanoseconds(received[i] - sent_at[i]).count()));
    row["in_latency"] = latency_row(h);
    row["in_latency_samples"] = h.count();
  }
  relay.stop();
  return row;
}

}  // namespace tirai::bench
