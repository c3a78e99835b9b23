// Phone calls end to end (issue "Phone calls through the proxy number"): a
// real tiraid with [sms] and [phone], Kamailio, rtpengine (and the seam
// between them) started by tools/voice-stack.sh, and SIPp playing the
// client's phone behind the carrier, the carrier taking calls back, and the
// talent's registered phone. The talent's console in Chromium is in
// web/e2e/. Every name has "phone" in it: `ctest -R phone` runs them.
#include "crypto/turn_credential.hpp"
#include "support/relay_fixture.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <future>
#include <regex>
#include <sstream>

namespace tirai::test {

namespace {

using namespace std::chrono_literals;
using client::LoggedProcess;

const std::string P1 = "+6281100000001", P2 = "+6281100000002";
const std::string C1 = "+6281234567890", C2 = "+6281234567891", C3 = "+6281234567892", C4 = "+6281234567893";
const std::filesystem::path sipp_dir = std::filesystem::path(TIRAI_TEST_DATA) / "sipp";
const std::filesystem::path voice_stack = std::filesystem::path(TIRAI_TEST_DATA) / ".." / ".." / "tools" / "voice-stack.sh";

// Programs CI installs (tools/install-deps.sh): missing is a failure, not a skip.
void require_programs() {
  for (const char* p : {"/usr/bin/sipp", "/usr/sbin/kamailio", "/usr/bin/rtpengine"})
    if (!std::filesystem::exists(p)) throw std::runtime_error(std::string(p) + " is missing: run tools/install-deps.sh");
}

std::string phone_toml(std::uint16_t seam, std::uint16_t rpc) {
  return fmt::format(
      "{}country_code = \"62\"\n"
      "[phone]\nenabled = true\nlisten = \"127.0.0.1:{}\"\nkamailio_rpc = \"127.0.0.1:{}\"\n"
      // Kamailio is asked which calls it still has every second: no call
      // of these tests may end for it (each would fail), and one checks it ran.
      "reconcile_interval = \"1s\"\n"
      "[policy]\nlogin_attempts_per_minute = 0\n[log]\nlevel = \"debug\"\n"
      "[packages.chat-30m]\nchannels = [\"chat\"]\nduration = \"30m\"\n"
      "[packages.call-60m]\nchannels = [\"chat\", \"voice\"]\nduration = \"60m\"\n"
      "[packages.call-1min]\nchannels = [\"voice\"]\nduration = \"60m\"\ncall_minutes = 1\n",
      sms_table({P1, P2}), seam, rpc);
}

// A UDP socket on a free loopback port whose receives give up after
// `timeout_s` seconds: (its descriptor, its port).
std::pair<int, std::uint16_t> loopback_udp(int timeout_s) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0);
  socklen_t len = sizeof local;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  timeval tv{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return {fd, ntohs(local.sin_port)};
}

// The messages a SIPp run received, from its -message_file trace, each as sent.
std::vector<std::string> received(const std::filesystem::path& trace) {
  std::ifstream in(trace);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::vector<std::string> out;
  static const std::regex section(R"(-{10,} [^\n]*\n(\w+) message received \[\d+\] bytes :\n\n)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), section); it != std::sregex_iterator(); ++it) {
    const auto start = static_cast<std::size_t>(it->position() + it->length());
    const auto end = text.find("\n-----------------", start);
    out.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
  }
  return out;
}

// Whether one of `messages` is a BYE (an ACK may come after it: the session
// ended the moment the call was answered).
bool got_bye(const std::vector<std::string>& messages) {
  return std::any_of(messages.begin(), messages.end(), [](const std::string& m) { return m.starts_with("BYE "); });
}

// Every spelling of a number's digits a message could carry it in.
bool mentions(const std::string& text, const std::string& number) {
  const std::string digits = number.substr(1);                 // 6281234567890
  const std::string national = "0" + number.substr(3);         // 081234567890
  const std::string subscriber = number.substr(number.size() - 8);  // 34567890
  return text.find(digits) != std::string::npos || text.find(national) != std::string::npos ||
         text.find(subscriber) != std::string::npos;
}

// The relay, Kamailio, rtpengine and SIPp on loopback, and one talent's
// SIP credential.
struct PhoneWorld {
  PhoneWorld()
      : seam_port((require_programs(), client::free_port())),
        rpc_port(client::free_port()),
        carrier_port(client::free_port()),
        relay(phone_toml(seam_port, rpc_port)),
        voice(voice_stack, relay.daemon.dir() / "voice-stack.log") {
    voice.start({"--config", relay.daemon.config_file().string(), "--dir", (relay.daemon.dir() / "voice").string(),
                 "--carrier", fmt::format("127.0.0.1:{}", carrier_port)});
    if (!voice.wait_for_log("ready", 0, 30s))
      throw std::runtime_error("voice-stack.sh did not start:\n" + fmt::format("{}", fmt::join(voice.lines(), "\n")));
    for (const auto& line : voice.lines()) {
      const auto eq = line.find('=');
      if (eq != std::string::npos) said[line.substr(0, eq)] = line.substr(eq + 1);
    }
    std::ifstream secret_in(said.at("sip_secret_file"));
    std::getline(secret_in, sip_secret);
  }
  ~PhoneWorld() { voice.stop(SIGTERM); }

  std::string port_of(const std::string& key) const { return said.at(key).substr(said.at(key).rfind(':') + 1); }

  // Her SIP credential as tiraid will issue it: "expiry:alias", HMAC-SHA1.
  std::pair<std::string, std::string> credential(const std::string& alias) const {
    const auto expiry = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch() + 1h)
                            .count();
    const std::string user = fmt::format("{}:{}", expiry, alias);
    return {user, crypto::turn_password(crypto::Secret::from(std::string(sip_secret)), user)};
  }

  std::filesystem::path file(const std::string& name) const { return relay.daemon.dir() / name; }

  // Runs a SIPp scenario to its end; (exit status, its output).
  // `timeout`: how long it may wait for its call.
  std::pair<int, std::string> sipp(const std::string& scenario, std::vector<std::string> args, const std::string& trace,
                                   const std::string& timeout = "20s") const {
    std::vector<std::string> all = {"-sf", (sipp_dir / scenario).string(), "-i", "127.0.0.1", "-m", "1", "-nostdin",
                                    "-timeout", timeout, "-timeout_error", "-trace_msg", "-message_file",
                                    file(trace).string(), "-trace_err", "-error_file", file(trace + ".err").string()};
    all.insert(all.end(), args.begin(), args.end());
    return client::run_program("/usr/bin/sipp", all);
  }

  // The talent's phone: answers one call on `port` (in the background), once registered there as `alias`.
  // `ring_ms`: how long it rings before it answers.
  std::future<std::pair<int, std::string>> answering_phone(const std::string& alias, std::uint16_t port,
                                                           const std::string& trace, const std::string& timeout = "20s",
                                                           int ring_ms = 0) {
    auto answering = std::async(std::launch::async, [this, port, trace, timeout, ring_ms] {
      return sipp("answer.xml", {"-p", std::to_string(port), "-d", std::to_string(ring_ms)}, trace, timeout);
    });
    const auto [user, password] = credential(alias);
    const auto [status, out] = sipp("register.xml",
                                    {"-p", std::to_string(client::free_port()), "-set", "alias", alias, "-set",
                                     "contact", fmt::format("127.0.0.1:{}", port), "-au", user, "-ap", password,
                                     "127.0.0.1:" + port_of("talent_sip")},
                                    trace + ".register");
    INFO(out);
    REQUIRE(status == 0);
    return answering;
  }

  using Run = std::future<std::pair<int, std::string>>;
  // A call from `from` to `proxy`, answered by `alias`'s phone, that goes on
  // until a BYE: (the talent's phone, the client's phone), once answered.
  std::pair<Run, Run> answered_call(const std::string& alias, const std::string& from, const std::string& proxy,
                                    int ring_ms = 0) {
    auto talent = answering_phone(alias, client::free_port(), "talent.trace", "20s", ring_ms);
    // The client's phone says "up" here once it has acknowledged the 200.
    const auto [up, up_port] = loopback_udp(15);
    auto phone = std::async(std::launch::async, [this, from, proxy, port = up_port] {
      return sipp("call_until_bye.xml",
                  {"-p", std::to_string(client::free_port()), "-s", proxy, "-set", "from", from, "-set", "up_port",
                   std::to_string(port), "127.0.0.1:" + port_of("sip")},
                  "phone.trace");
    });
    REQUIRE(relay.daemon.wait_for_log("answered", 0, 15s));
    // tiraid logs the answer before its reply reaches Kamailio, which passes
    // the 200 on only then (and hangs up a call whose answer it could not
    // report): the call is up once the client's phone has the 200.
    char said_up[8];
    const auto n = ::recv(up, said_up, sizeof said_up, 0);
    ::close(up);
    REQUIRE(n > 0);
    return {std::move(talent), std::move(phone)};
  }

  std::uint16_t seam_port, rpc_port, carrier_port;
  Relay relay;
  LoggedProcess voice;
  std::map<std::string, std::string> said;
  std::string sip_secret;
};

// A carrier's INVITE from `from` to `to`, sent from a socket of its own to
// Kamailio's trunk side; the first final answer, as received.
std::string carrier_invite(std::uint16_t sip_port, const std::string& from, const std::string& to,
                           const std::string& call_id) {
  const auto [fd, port] = loopback_udp(5);
  const std::string sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                          "m=audio 40000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n";
  const std::string msg = fmt::format(
      "INVITE sip:{to}@127.0.0.1:{sip} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{id}\r\n"
      "Max-Forwards: 70\r\nFrom: <sip:{from}@127.0.0.1>;tag=t{id}\r\nTo: <sip:{to}@127.0.0.1>\r\n"
      "Call-ID: {id}@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:{from}@127.0.0.1:{me}>\r\n"
      "P-Asserted-Identity: <sip:{from}@127.0.0.1>\r\nContent-Type: application/sdp\r\nContent-Length: {n}\r\n\r\n{sdp}",
      fmt::arg("to", to), fmt::arg("from", from), fmt::arg("sip", sip_port), fmt::arg("me", port),
      fmt::arg("id", call_id), fmt::arg("n", sdp.size()), fmt::arg("sdp", sdp));
  sockaddr_in kamailio{};
  kamailio.sin_family = AF_INET;
  kamailio.sin_port = htons(sip_port);
  kamailio.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&kamailio), sizeof kamailio);
  std::string answer;
  std::vector<std::string> provisional;
  char buf[65536];
  while (true) {
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    std::string got(buf, static_cast<std::size_t>(n));
    if (got.starts_with("SIP/2.0 1")) {
      provisional.push_back(got);
      continue;
    }
    answer = got;
    break;
  }
  ::close(fd);
  INFO("provisional answers: " << provisional.size());
  CHECK(provisional.empty());  // nothing before the refusal, not even 100 Trying
  return answer;
}

// rtpengine's answer to one ng command (bencoded, after a cookie) on its control port.
std::string rtpengine_ng(std::uint16_t port, const std::string& command) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string msg = "tirai1 " + command;
  ::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  char buf[65536];
  const auto n = ::recv(fd, buf, sizeof buf, 0);
  ::close(fd);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

// An answer with what it echoes of its request and its own tag taken out:
// what is left is what the relay chose to say.
std::string normalised(std::string answer, const std::string& from, const std::string& to, const std::string& id) {
  const auto replace_all = [&](const std::string& what, const std::string& with) {
    for (auto at = answer.find(what); at != std::string::npos; at = answer.find(what, at + with.size()))
      answer.replace(at, what.size(), with);
  };
  replace_all(from, "<FROM>");
  replace_all(to, "<TO>");
  replace_all(id, "<ID>");
  answer = std::regex_replace(answer, std::regex(R"(Via: SIP/2.0/UDP 127\.0\.0\.1:\d+)"), "Via: <VIA>");
  answer = std::regex_replace(answer, std::regex(R"(;tag=[^\r\n;]*)"), ";tag=<TAG>");
  return answer;
}

}  // namespace

TEST_CASE("phone: a call into a live voice session rings the talent's phone, which never sees the client's number",
          "[e2e][phone]") {
  PhoneWorld w;
  w.relay.enrol("natasha");
  const auto b = w.relay.book("natasha", C1, "call-60m");
  REQUIRE(b.at("proxy_number") == P1.c_str());
  auto talent = w.answering_phone("natasha", client::free_port(), "talent.trace");
  const auto [status, out] = w.sipp("call.xml",
                                    {"-p", std::to_string(client::free_port()), "-s", P1, "-set", "from", C1, "-d",
                                     "2000", "127.0.0.1:" + w.port_of("sip")},
                                    "phone.trace");
  INFO(out);
  CHECK(status == 0);
  const auto [talent_status, talent_out] = talent.get();
  INFO(talent_out);
  CHECK(talent_status == 0);

  const auto messages = received(w.file("talent.trace"));
  REQUIRE(messages.size() >= 3);  // INVITE, ACK, BYE
  const std::string& invite = messages.front();
  INFO(invite);
  REQUIRE(invite.starts_with("INVITE sip:natasha@"));
  // The caller is the client alias; the session is named for her console.
  const std::string alias(b.at("client_alias").as_string());
  CHECK(invite.find("From: " + alias + " <sip:" + alias + "@tirai.test>") != std::string::npos);
  CHECK(invite.find("X-Tirai-Session: " + std::string(b.at("session").as_string())) != std::string::npos);
  for (const auto& m : messages) {
    INFO(m);
    CHECK_FALSE(mentions(m, C1));
    for (const char* header : {"P-Asserted-Identity", "P-Preferred-Identity", "Remote-Party-ID", "Diversion",
                               "History-Info", "Identity:", "\ni=call", "\ne=", "\np=", "\nu="})
      CHECK(m.find(header) == std::string::npos);
  }
  // The relay counted the call, and its log names no number.
  const auto metrics = w.relay.daemon.admin().request("GET", "/metrics").body;
  CHECK(metrics.find(R"(tirai_phone_decisions_total{direction="inbound",result="ring"} 1)") != std::string::npos);
  CHECK(metrics.find(R"(tirai_phone_calls_ended_total{reason="hangup"} 1)") != std::string::npos);
  CHECK(metrics.find("tirai_phone_call_seconds_total 2") != std::string::npos);
  CHECK_FALSE(mentions(w.relay.daemon.log(), C1));
}

TEST_CASE("phone: calls that may not ring all get the same answer, and ring nobody", "[e2e][phone]") {
  PhoneWorld w;
  for (const char* t : {"natasha", "dewi", "mira"}) w.relay.enrol(t);
  const auto live = w.relay.book("natasha", C1, "call-60m");
  const auto chat = w.relay.book("dewi", C2, "chat-30m");
  const auto ended = w.relay.book("natasha", C3, "call-60m");
  const auto offline = w.relay.book("mira", C4, "call-60m");  // mira's phone is not registered
  REQUIRE(w.relay.call("POST", fmt::format("/v1/sessions/{}/end", ended.at("session").as_string())).status == 200);
  // natasha's and dewi's phones are registered: a call that reached them
  // would show. They wait 5 s for one (absence has no event to wait for).
  auto natasha = w.answering_phone("natasha", client::free_port(), "natasha.trace", "5s");
  auto dewi = w.answering_phone("dewi", client::free_port(), "dewi.trace", "5s");

  const auto sip = static_cast<std::uint16_t>(std::stoi(w.port_of("sip")));
  struct Case {
    std::string what, from, to;
  };
  const std::vector<Case> cases = {
      {"a session that ended", C3, std::string(ended.at("proxy_number").as_string())},
      {"a chat-only session", C2, std::string(chat.at("proxy_number").as_string())},
      {"a number that is not a proxy number", C1, "+6281199999999"},
      {"a number with no session", "+6289999999999", P1},
      {"a client calling another session's number", C2, std::string(live.at("proxy_number").as_string()) == P1 ? P2 : P1},
      {"a live session whose talent is offline", C4, std::string(offline.at("proxy_number").as_string())},
  };
  std::string first;
  int n = 0;
  for (const auto& c : cases) {
    const std::string id = fmt::format("refusal{}x{}", n++, ::getpid());
    const auto answer = carrier_invite(sip, c.from, c.to, id);
    INFO(c.what << ":\n" << answer);
    REQUIRE(answer.starts_with("SIP/2.0 480 Temporarily Unavailable\r\n"));
    const auto same = normalised(answer, c.from, c.to, id);
    if (first.empty()) first = same;
    CHECK(same == first);
  }
  // Nobody rang: the registered phones waited out their time and received nothing.
  CHECK(natasha.get().first != 0);
  CHECK(dewi.get().first != 0);
  CHECK(received(w.file("natasha.trace")).empty());
  CHECK(received(w.file("dewi.trace")).empty());
  const auto metrics = w.relay.daemon.admin().request("GET", "/metrics").body;
  CHECK(metrics.find(R"(tirai_phone_calls_active 0)") != std::string::npos);
}

TEST_CASE("phone: ending the session mid-call sends BYE to both sides within a second", "[e2e][phone]") {
  PhoneWorld w;
  w.relay.enrol("natasha");
  const auto b = w.relay.book("natasha", C1, "call-60m");
  auto [talent, phone] = w.answered_call("natasha", C1, P1);
  const auto ended_at = std::chrono::steady_clock::now();
  REQUIRE(w.relay.call("POST", fmt::format("/v1/sessions/{}/end", b.at("session").as_string())).status == 200);
  // Both SIPp runs end once they got their BYE and answered it.
  REQUIRE(phone.wait_for(1s) == std::future_status::ready);
  REQUIRE(talent.wait_for(1s) == std::future_status::ready);
  const auto took = std::chrono::steady_clock::now() - ended_at;
  CHECK(took < 1s);
  const auto [ps, pout] = phone.get();
  INFO(pout);
  CHECK(ps == 0);
  const auto [ts, tout] = talent.get();
  INFO(tout);
  CHECK(ts == 0);
  CHECK(got_bye(received(w.file("phone.trace"))));
  CHECK(got_bye(received(w.file("talent.trace"))));
  CHECK(w.relay.daemon.wait_for_log("ended (session_closed"));
  // No BYE passed through Kamailio's routes: its dialog's end let rtpengine
  // go of the call's media at once (no calls listed).
  // (The dialog ends at the BYEs' answers, a moment after the phones are
  // done; its end route lets go of the media, then reports the end, which
  // tiraid, having ended the call itself, logs as not a call any more.)
  CHECK(w.relay.daemon.wait_for_log("reports call", 0, 5s));
  const auto ng = static_cast<std::uint16_t>(std::stoi(w.port_of("rtpengine")));
  CHECK(rtpengine_ng(ng, "d7:command4:liste") == "tirai1 d5:callsle6:result2:oke");
}

TEST_CASE("phone: Kamailio's list of its calls keeps a ringing call and an answered one up", "[e2e][phone]") {
  PhoneWorld w;
  w.relay.enrol("natasha");
  const auto b = w.relay.book("natasha", C1, "call-60m");
  // The talent's phone rings for two and a half seconds: two reconciles.
  const auto from = w.relay.daemon.log_lines();
  auto [talent, phone] = w.answered_call("natasha", C1, P1, 2500);
  const auto lines = w.relay.daemon.lines(from);
  const auto at = [&](const std::string& needle) {
    return std::find_if(lines.begin(), lines.end(), [&](const auto& l) { return l.find(needle) != l.npos; });
  };
  REQUIRE(at("rings") != lines.end());
  REQUIRE(at("answered") != lines.end());
  CHECK(at("rings") < at("Kamailio still has 1 of the 1 calls up here"));
  CHECK(at("Kamailio still has 1 of the 1 calls up here") < at("answered"));
  // Answered, it is listed again, and kept.
  const auto answered = w.relay.daemon.log_lines();
  CHECK(w.relay.daemon.wait_for_log("Kamailio still has 1 of the 1 calls up here", answered, 5s));
  CHECK(w.relay.daemon.log().find("ended (lost") == std::string::npos);
  CHECK(w.relay.call("POST", "/v1/sessions/" + sid(b) + "/end").status == 200);
  CHECK(phone.get().first == 0);
  CHECK(talent.get().first == 0);
}

TEST_CASE("phone: a call with one minute left plays rtpengine's tone to the client's phone", "[e2e][phone]") {
  PhoneWorld w;
  w.relay.enrol("natasha");
  const auto b = w.relay.book("natasha", C1, "call-1min");
  auto [talent, phone] = w.answered_call("natasha", C1, P1);
  // A one-minute package has its last minute from the start: the tone comes at once.
  REQUIRE(w.relay.daemon.wait_for_log("one minute left, a tone to the phone", 0, 5s));
  // Counted as played only when Kamailio's /tone had rtpengine's "ok".
  CHECK(w.relay.daemon.wait_for_log("was played", 0, 5s));
  const auto metrics = w.relay.daemon.admin().request("GET", "/metrics").body;
  INFO(metrics);
  CHECK(metrics.find(R"(tirai_phone_tones_total{result="played"} 1)") != std::string::npos);
  REQUIRE(w.relay.call("POST", fmt::format("/v1/sessions/{}/end", b.at("session").as_string())).status == 200);
  CHECK(phone.get().first == 0);
  CHECK(talent.get().first == 0);
  // Nothing of the call is left in Kamailio's memory for a tone.
  CHECK(w.relay.daemon.wait_for_log("ended (session_closed"));
}

TEST_CASE("phone: the talent calls the client back from the proxy number, and not after the session", "[e2e][phone]") {
  PhoneWorld w;
  w.relay.enrol("natasha");
  const auto b = w.relay.book("natasha", C1, "call-60m");
  const std::string session(b.at("session").as_string());
  auto carrier = std::async(std::launch::async, [&] {
    return w.sipp("answer.xml", {"-p", std::to_string(w.carrier_port)}, "carrier.trace");
  });
  const auto [user, password] = w.credential("natasha");
  const auto [status, out] = w.sipp("callback.xml",
                                    {"-p", std::to_string(client::free_port()), "-s", session, "-set", "alias",
                                     "natasha", "-au", user, "-ap", password, "127.0.0.1:" + w.port_of("talent_sip")},
                                    "callback.trace");
  INFO(out);
  CHECK(status == 0);
  CHECK(carrier.get().first == 0);
  const auto at_carrier = received(w.file("carrier.trace"));
  REQUIRE_FALSE(at_carrier.empty());
  const std::string& invite = at_carrier.front();
  INFO(invite);
  // To the client's number, from the proxy number; nothing of the talent.
  CHECK(invite.starts_with(fmt::format("INVITE sip:{}@127.0.0.1:{} ", C1, w.carrier_port)));
  CHECK(invite.find(fmt::format("From: <sip:{}@tirai.test>", P1)) != std::string::npos);
  CHECK(invite.find(fmt::format("P-Asserted-Identity: <sip:{}@tirai.test>", P1)) != std::string::npos);
  CHECK(invite.find("natasha") == std::string::npos);
  // And the talent's side of it never held the number.
  for (const auto& m : received(w.file("callback.trace"))) {
    INFO(m);
    CHECK_FALSE(mentions(m, C1));
  }

  // Another talent, or the same one after the session, is refused.
  w.relay.enrol("dewi");
  const auto [dewi_user, dewi_password] = w.credential("dewi");
  CHECK(w.sipp("callback_refused.xml",
               {"-p", std::to_string(client::free_port()), "-s", session, "-set", "alias", "dewi", "-au", dewi_user,
                "-ap", dewi_password, "127.0.0.1:" + w.port_of("talent_sip")},
               "dewi.trace")
            .first == 0);
  REQUIRE(w.relay.call("POST", fmt::format("/v1/sessions/{}/end", session)).status == 200);
  CHECK(w.sipp("callback_refused.xml",
               {"-p", std::to_string(client::free_port()), "-s", session, "-set", "alias", "natasha", "-au", user,
                "-ap", password, "127.0.0.1:" + w.port_of("talent_sip")},
               "after.trace")
            .first == 0);
}

}  // namespace tirai::test

namespace tirai::test {

TEST_CASE("phone: a tiraid restarted after kill -9 hangs up the calls the earlier run let through", "[e2e][phone]") {
  PhoneWorld w;
  w.relay.enrol("natasha");
  w.relay.book("natasha", C1, "call-60m");
  auto [talent, phone] = w.answered_call("natasha", C1, P1);
  // Its session could no longer hang the call up: the new run does at once.
  w.relay.daemon.kill9();
  const auto from = w.relay.daemon.log_lines();
  w.relay.daemon.start();
  CHECK(w.relay.daemon.wait_for_log("hung up 1 phone calls left from before the restart", from));
  REQUIRE(phone.wait_for(5s) == std::future_status::ready);
  REQUIRE(talent.wait_for(5s) == std::future_status::ready);
  CHECK(phone.get().first == 0);
  CHECK(talent.get().first == 0);
  CHECK(got_bye(received(w.file("talent.trace"))));
}

}  // namespace tirai::test

namespace tirai::test {

TEST_CASE("phone: the seam answers bad questions with 400 or 401, and refuses a second dialog smuggled in a number",
          "[e2e][phone]") {
  const auto seam = client::free_port();
  Relay relay(phone_toml(seam, client::free_port()));
  std::ifstream in(relay.daemon.dir() / "phone-seam.secret");
  std::string secret;
  std::getline(in, secret);
  const client::AdminClient right("127.0.0.1", seam, secret), wrong("127.0.0.1", seam, "not-the-secret-0123456789");
  CHECK(wrong.request("GET", "/v1/phone/inbound?from=%2B6281234567890&to=%2B6281100000001&dialog=1:1").status == 401);
  CHECK(right.request("GET", "/v1/phone/inbound?to=%2B6281100000001&dialog=1:1").status == 400);
  CHECK(right.request("GET", "/v1/phone/inbound?from=%2B6281234567890&to=%2B6281100000001&dialog=one").status == 400);
  CHECK(right.request("GET", "/v1/phone/inbound?from=%2B6281234567890&to=%2B6281100000001&dialog=1:1&dialog=2:2")
            .status == 400);
  CHECK(right.request("GET", "/v1/phone/inbound?from=%zz&to=%2B6281100000001&dialog=1:1").status == 400);
  CHECK(right.request("GET", "/v1/phone/event?dialog=9:9&event=answered").status == 404);
  CHECK(right.request("GET", "/v1/phone/event?dialog=9:9").status == 400);
  CHECK(right.request("POST", "/v1/phone/inbound").status >= 400);
  // A well-formed question about nobody: the one refusal.
  const auto no = right.request("GET", "/v1/phone/inbound?from=%2B6289999999999&to=%2B6281100000001&dialog=1:1");
  CHECK(no.status == 404);
  CHECK(no.body.empty());
  CHECK(relay.daemon.wait_for_log("GET /v1/phone/inbound -> 404"));
}

}  // namespace tirai::test
