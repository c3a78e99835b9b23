#include "tools/bench/phone.hpp"

#include "crypto/turn_credential.hpp"
#include "tools/bench/histogram.hpp"
#include "tools/tiraid_process.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace tirai::bench {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

const std::string P1 = "+6281100000001", C1 = "+6281234567890";

json::object latency_row(const Histogram& h, double unit, const char* suffix) {
  return {{fmt::format("p50_{}", suffix), static_cast<double>(h.quantile(0.5)) / unit},
          {fmt::format("p99_{}", suffix), static_cast<double>(h.quantile(0.99)) / unit},
          {fmt::format("max_{}", suffix), static_cast<double>(h.max()) / unit}};
}

// "2026-12-03 02:50:04.677753" from a SIPp trace's separator line, in microseconds of the day.
std::int64_t trace_micros(const std::string& stamp) {
  int h = 0, m = 0, s = 0, us = 0;
  if (std::sscanf(stamp.c_str(), "%*d-%*d-%*d %d:%d:%d.%d", &h, &m, &s, &us) != 4)
    throw std::runtime_error("unreadable SIPp trace time: " + stamp);
  return ((static_cast<std::int64_t>(h) * 60 + m) * 60 + s) * 1'000'000 + us;
}

// Per Call-ID in a phone's SIPp trace: when its INVITE went out and its 180 came in.
Histogram post_dial_delays(const std::filesystem::path& trace) {
  std::ifstream in(trace);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  static const std::regex section(R"(-{10,} (\S+ \S+)\n\w+ message (sent|received)[^\n]*\n\n([^\n]*)\n)");
  static const std::regex call_id(R"(\nCall-ID: ([^\r\n]+))");
  std::map<std::string, std::int64_t> invited;
  Histogram h;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), section); it != std::sregex_iterator(); ++it) {
    const auto rest = text.substr(static_cast<std::size_t>(it->position() + it->length()), 2000);
    std::smatch id;
    if (!std::regex_search(rest, id, call_id)) continue;
    const std::string first = (*it)[3];
    const auto at = trace_micros((*it)[1]);
    if ((*it)[2] == "sent" && first.starts_with("INVITE ")) invited.emplace(id[1], at);
    if ((*it)[2] == "received" && first.starts_with("SIP/2.0 180")) {
      auto i = invited.find(id[1]);
      if (i != invited.end()) h.record(static_cast<std::uint64_t>((at - i->second) * 1000));
    }
  }
  return h;
}

// One seam request at a time over one keep-alive connection; each answer's
// status checked; the round trips in nanoseconds.
struct Seam {
  Seam(std::uint16_t port, std::string secret) : secret(std::move(secret)), stream(ioc) {
    boost::asio::ip::tcp::resolver resolver(ioc);
    stream.connect(resolver.resolve("127.0.0.1", std::to_string(port)));
    stream.socket().set_option(boost::asio::ip::tcp::no_delay(true));
  }
  std::uint64_t get(const std::string& target, unsigned want, bool authorised = true) {
    namespace http = boost::beast::http;
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (authorised) req.set(http::field::authorization, "Bearer " + secret);
    req.keep_alive(true);
    const auto t0 = Clock::now();
    http::write(stream, req);
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    const auto took = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
    if (res.result_int() != want)
      throw std::runtime_error(fmt::format("the seam answered {} to {} (wanted {})", res.result_int(), target, want));
    return static_cast<std::uint64_t>(took);
  }
  std::string secret;
  boost::asio::io_context ioc;
  boost::beast::tcp_stream stream;
  boost::beast::flat_buffer buffer;
};

std::string first_line(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

namespace {
std::filesystem::path new_folder(const std::string& name) {
  std::string templ = "/tmp/tirai-bench-" + name + "-XXXXXX";
  if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
  return templ;
}
}  // namespace

VoiceRig::VoiceRig(const PhoneOptions& o, const std::string& name, std::vector<std::string> stack_args)
    : options(o),
      dir(new_folder(name)),
      seam_port(client::free_port()),
      rpc_port(client::free_port()),
      relay(o.tiraid, dir,
            fmt::format("[sms]\nenabled = true\nlisten = \"127.0.0.1:0\"\ninbound_secret = \"kannel-to-tirai-0123456789\"\n"
                        "sendsms_url = \"http://127.0.0.1:9/cgi-bin/sendsms\"\nusername = \"u\"\npassword = \"p\"\n"
                        "proxy_numbers = [\"{}\"]\n[phone]\nenabled = true\nlisten = \"127.0.0.1:{}\"\n"
                        "kamailio_rpc = \"127.0.0.1:{}\"\n[policy]\nlogin_attempts_per_minute = 0\n",
                        P1, seam_port, rpc_port)),
      voice(o.voice_stack, dir / "voice-stack.log") {
  relay.start();
  std::vector<std::string> args = {"--config", relay.config_file().string(), "--dir", (dir / "voice").string()};
  args.insert(args.end(), stack_args.begin(), stack_args.end());
  voice.start(args);
  if (!voice.wait_for_log("ready", 0, std::chrono::seconds(30))) throw std::runtime_error("voice-stack.sh did not start");
  for (const auto& line : voice.lines())
    if (const auto eq = line.find('='); eq != std::string::npos) said[line.substr(0, eq)] = line.substr(eq + 1);
  relay.admin().request("POST", "/v1/talents", R"({"alias":"bench","secret":"correct horse battery"})");
}

VoiceRig::~VoiceRig() {
  voice.stop(SIGTERM);
  relay.stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

std::uint16_t VoiceRig::port_of(const std::string& key) const {
  const auto& v = said.at(key);
  return static_cast<std::uint16_t>(std::stoi(v.substr(v.rfind(':') + 1)));
}

void VoiceRig::register_talent(const std::string& alias, std::uint16_t contact_port) const {
  const auto expiry = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch() + std::chrono::hours(1))
                          .count();
  const auto user = fmt::format("{}:{}", expiry, alias);
  const auto password = crypto::turn_password(crypto::Secret::from(first_line(said.at("sip_secret_file"))), user);
  auto [rs, rout] = client::run_program(
      "/usr/bin/sipp", {"-sf", options.scenarios + "/register.xml", "-i", "127.0.0.1", "-p",
                        std::to_string(client::free_port()), "-m", "1", "-nostdin", "-set", "alias", alias, "-set",
                        "contact", fmt::format("127.0.0.1:{}", contact_port), "-au", user, "-ap", password,
                        "127.0.0.1:" + std::to_string(port_of("talent_sip"))});
  if (rs != 0) throw std::runtime_error("the talent's phone could not register:\n" + rout);
}

json::object phone_calls(const PhoneOptions& o) {
  VoiceRig rig(o, "phone");
  const auto& dir = rig.dir;
  const auto seam_port = rig.seam_port;
  const auto port_of = [&](const std::string& k) { return std::to_string(rig.port_of(k)); };
  auto admin = rig.relay.admin();
  const auto booked = json::parse(admin.request("POST", "/v1/sessions",
                                                json::serialize(json::object{
                                                    {"talent", "bench"}, {"client", C1}, {"package", "chat-call-60m"}}))
                                      .body)
                          .as_object();
  const std::string session(booked.at("session").as_string());

  json::object row{{"target", "tirai+kamailio+rtpengine"}, {"workload", "phone"}, {"calls", o.calls}};

  // The post-dial delay: the talent's phone (SIPp) registered and answering,
  // the client's phone (SIPp) calling one call at a time.
  {
    const auto talent_port = client::free_port();
    client::LoggedProcess talent("/usr/bin/sipp", dir / "talent.log");
    talent.start({"-sf", o.scenarios + "/answer.xml", "-i", "127.0.0.1", "-p", std::to_string(talent_port), "-m",
                  std::to_string(o.calls), "-nostdin", "-timeout", "120s"});
    rig.register_talent("bench", talent_port);
    const auto trace = dir / "phone.trace";
    auto [ps, pout] = client::run_program(
        "/usr/bin/sipp", {"-sf", o.scenarios + "/call.xml", "-i", "127.0.0.1", "-p", std::to_string(client::free_port()),
                          "-s", P1, "-set", "from", C1, "-d", "200", "-m", std::to_string(o.calls), "-l", "1", "-nostdin",
                          "-trace_msg", "-message_file", trace.string(), "127.0.0.1:" + port_of("sip")});
    if (ps != 0) throw std::runtime_error("the client's calls failed:\n" + pout);
    talent.stop(SIGTERM);
    const auto pdd = post_dial_delays(trace);
    if (pdd.count() != o.calls) throw std::runtime_error(fmt::format("{} of {} calls rang", pdd.count(), o.calls));
    row["post_dial_delay"] = latency_row(pdd, 1e6, "ms");
  }

  // The seam: refusals, calls that ring (each ended at once), and the peer:
  // the same listener refusing a request without the secret.
  {
    Seam seam(seam_port, first_line(dir / "phone-seam.secret"));
    Histogram refused, rang, http_only;
    for (std::size_t i = 0; i < o.decisions; ++i) {
      refused.record(seam.get(fmt::format("/v1/phone/inbound?from=%2B6289{:09}&to=%2B{}&dialog=1:{}", i, P1.substr(1), i),
                              404));
      const auto dialog = fmt::format("2:{}", i);
      rang.record(seam.get(fmt::format("/v1/phone/inbound?from=%2B{}&to=%2B{}&dialog={}", C1.substr(1), P1.substr(1),
                                       dialog),
                           200));
      seam.get("/v1/phone/event?event=ended&dialog=" + dialog, 200);
      http_only.record(seam.get("/v1/phone/event?event=ended&dialog=3:1", 401, false));
    }
    row["decisions"] = o.decisions;
    row["decision_refused"] = latency_row(refused, 1e3, "us");
    row["decision_ring"] = latency_row(rang, 1e3, "us");
    row["peer_http_401"] = latency_row(http_only, 1e3, "us");
    row["ring_vs_peer_p50"] =
        static_cast<double>(rang.quantile(0.5)) / static_cast<double>(std::max<std::uint64_t>(http_only.quantile(0.5), 1));
  }
  (void)session;
  return row;
}

}  // namespace tirai::bench
