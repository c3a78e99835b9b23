// tirai-bench --workload phone-load: how many phone calls at once Kamailio
// and rtpengine (userspace) carry on this machine before the audio
// degrades. Each call is a real one: a session of its own booked in tiraid,
// an INVITE from the client's number to the proxy number through Kamailio
// (which asks tiraid) to the talent's registered phone (SIPp, answering and
// echoing every RTP packet back: -rtp_echo), media anchored in rtpengine.
// The client's side is this program: a SIP client on one UDP socket, and per
// call an RTP socket sending 20 ms G.711 packets (50 a second) that carry
// their send time; each echoed packet gives a round trip through rtpengine
// twice and the talent's phone. Levels of concurrent calls are added one
// after another; at each, for a few seconds, the loss and the round trips.
#include "tools/bench/phone.hpp"

#include "tools/bench/histogram.hpp"
#include "tools/bench/process_cpu.hpp"
#include "tools/tiraid_process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <map>
#include <span>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace tirai::bench {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

const std::string P1 = "+6281100000001";

// A UDP socket on loopback, port chosen by the kernel.
struct Udp {
  Udp() {
    fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) throw std::runtime_error("socket() failed");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind() failed");
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    const int size = 1 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  ~Udp() {
    if (fd >= 0) ::close(fd);
  }
  Udp(const Udp&) = delete;
  Udp& operator=(const Udp&) = delete;
  void send_to(const std::string& data, std::uint16_t to) const {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(to);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  // The next datagram, or "" after `timeout`.
  std::string receive(std::chrono::milliseconds timeout) const {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return {};
    char buf[65536];
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
  int fd = -1;
  std::uint16_t port = 0;
};

// A header's value (the first), or "".
std::string header(const std::string& msg, const std::string& name) {
  const auto at = msg.find("\r\n" + name + ":");
  if (at == std::string::npos) return {};
  auto start = at + 2 + name.size() + 1;
  while (start < msg.size() && msg[start] == ' ') ++start;
  return msg.substr(start, msg.find("\r\n", start) - start);
}

// Every Record-Route entry, in the order they appear.
std::vector<std::string> record_routes(const std::string& msg) {
  std::vector<std::string> out;
  for (auto at = msg.find("\r\nRecord-Route:"); at != std::string::npos; at = msg.find("\r\nRecord-Route:", at + 2)) {
    auto start = at + std::strlen("\r\nRecord-Route:");
    const auto value = msg.substr(start, msg.find("\r\n", start) - start);
    std::size_t from = 0;
    while (true) {
      const auto open = value.find('<', from);
      const auto close = value.find('>', open);
      if (open == std::string::npos || close == std::string::npos) break;
      out.push_back(value.substr(open, close - open + 1));
      from = close + 1;
    }
  }
  return out;
}

struct Call {
  std::string id, from_tag, number;
  std::string to;          // the 200's To header, with its tag
  std::string target;      // its Contact's URI
  std::string routes;      // "Route: ...\r\n" or ""
  std::uint16_t media = 0; // rtpengine's port for this call
  std::unique_ptr<Udp> rtp;
  std::uint16_t seq = 0;
  std::uint32_t stamp = 0;
};

// The SIP client of the client's phones: INVITE, ACK, BYE through Kamailio.
struct Phones {
  Phones(std::uint16_t kamailio) : kamailio(kamailio) {}

  std::string request(const Call& c, const std::string& method, int cseq, const std::string& uri,
                      const std::string& extra, const std::string& body) const {
    return fmt::format(
        "{m} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{id}{m}{cseq}\r\nMax-Forwards: 70\r\n"
        "From: <sip:{num}@127.0.0.1>;tag={ft}\r\nTo: {to}\r\nCall-ID: {id}\r\nCSeq: {cseq} {m}\r\n{extra}"
        "Content-Length: {n}\r\n\r\n{body}",
        fmt::arg("m", method), fmt::arg("uri", uri), fmt::arg("me", sip.port), fmt::arg("id", c.id),
        fmt::arg("cseq", cseq), fmt::arg("num", c.number), fmt::arg("ft", c.from_tag),
        fmt::arg("to", c.to.empty() ? fmt::format("<sip:{}@127.0.0.1>", P1) : c.to), fmt::arg("extra", extra),
        fmt::arg("n", body.size()), fmt::arg("body", body));
  }

  // The final answer to `c`'s request `method` (retransmitting every 500 ms).
  std::string final_answer(const Call& c, const std::string& msg, const std::string& method) {
    const auto until = Clock::now() + std::chrono::seconds(10);
    auto resend = Clock::now() + std::chrono::milliseconds(500);
    sip.send_to(msg, kamailio);
    while (Clock::now() < until) {
      const auto got = sip.receive(std::chrono::milliseconds(100));
      if (Clock::now() > resend) {
        sip.send_to(msg, kamailio);
        resend = Clock::now() + std::chrono::milliseconds(500);
      }
      if (got.empty() || !got.starts_with("SIP/2.0 ") || got.starts_with("SIP/2.0 1")) continue;
      if (header(got, "Call-ID") != c.id || header(got, "CSeq").find(method) == std::string::npos) continue;
      return got;
    }
    throw std::runtime_error(fmt::format("no answer to {} of call {}", method, c.id));
  }

  void invite(Call& c) {
    c.rtp = std::make_unique<Udp>();
    const std::string sdp = fmt::format(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 8\r\n"
        "a=rtpmap:8 PCMA/8000\r\n",
        c.rtp->port);
    const auto msg = request(c, "INVITE", 1, fmt::format("sip:{}@127.0.0.1:{}", P1, kamailio),
                             fmt::format("Contact: <sip:{}@127.0.0.1:{}>\r\nContent-Type: application/sdp\r\n",
                                         c.number, sip.port),
                             sdp);
    const auto ok = final_answer(c, msg, "INVITE");
    if (!ok.starts_with("SIP/2.0 200"))
      throw std::runtime_error("a call was refused: " + ok.substr(0, ok.find("\r\n")));
    c.to = header(ok, "To");
    const auto contact = header(ok, "Contact");
    c.target = contact.substr(contact.find('<') + 1, contact.find('>') - contact.find('<') - 1);
    auto rr = record_routes(ok);
    if (!rr.empty()) {
      c.routes = "Route: ";
      for (auto it = rr.rbegin(); it != rr.rend(); ++it) c.routes += (it == rr.rbegin() ? "" : ", ") + *it;
      c.routes += "\r\n";
    }
    const auto m = ok.find("\r\nm=audio ");
    if (m == std::string::npos) throw std::runtime_error("the 200 has no audio");
    c.media = static_cast<std::uint16_t>(std::stoi(ok.substr(m + 10)));
    // The ACK goes to the first route (Kamailio) whatever the target says.
    sip.send_to(request(c, "ACK", 1, c.target, c.routes, ""), kamailio);
  }

  void bye(Call& c) {
    const auto ok = final_answer(c, request(c, "BYE", 2, c.target, c.routes, ""), "BYE");
    if (!ok.starts_with("SIP/2.0 200")) throw std::runtime_error("a BYE was refused");
  }

  std::uint16_t kamailio;
  Udp sip;
};

// The media of `calls` for `seconds`: each sends a packet every 20 ms and
// counts the echoes; the round trips in nanoseconds.
struct Media {
  std::uint64_t sent = 0, received = 0;
  Histogram rtt;
};

Media talk(std::span<Call> calls, double seconds) {
  Media m;
  std::atomic<bool> done{false};
  std::thread receiver([&] {
    std::vector<pollfd> fds;
    for (const auto& c : calls) fds.push_back({c.rtp->fd, POLLIN, 0});
    char buf[2048];
    // Echoes still on their way when the senders stop have 200 ms to arrive.
    auto stop_at = Clock::time_point::max();
    while (Clock::now() < stop_at) {
      if (done && stop_at == Clock::time_point::max()) stop_at = Clock::now() + std::chrono::milliseconds(200);
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
      for (auto& p : fds) {
        if (!(p.revents & POLLIN)) continue;
        while (true) {
          const auto n = ::recv(p.fd, buf, sizeof buf, MSG_DONTWAIT);
          if (n < 12 + 8) break;
          std::int64_t at = 0;
          std::memcpy(&at, buf + 12, sizeof at);
          ++m.received;
          if (now > at) m.rtt.record(static_cast<std::uint64_t>(now - at));
        }
      }
    }
  });
  std::string packet(12 + 160, '\xd5');  // A-law silence after the header
  auto next = Clock::now();
  const auto until = next + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (next < until) {
    std::this_thread::sleep_until(next);
    for (auto& c : calls) {
      packet[0] = '\x80';
      packet[1] = 8;
      const std::uint16_t seq = htons(c.seq++);
      const std::uint32_t stamp = htonl(c.stamp += 160);
      const std::uint32_t ssrc = htonl(static_cast<std::uint32_t>(c.rtp->port));
      std::memcpy(&packet[2], &seq, 2);
      std::memcpy(&packet[4], &stamp, 4);
      std::memcpy(&packet[8], &ssrc, 4);
      const std::int64_t at = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
      std::memcpy(&packet[12], &at, sizeof at);
      c.rtp->send_to(packet, c.media);
      ++m.sent;
    }
    next += std::chrono::milliseconds(20);
  }
  done = true;
  receiver.join();
  return m;
}

// Datagrams the kernel dropped (receive buffers full) on UDP sockets of
// 127.0.0.1, summed by who owns the port: this program's RTP sockets, the
// talent's phone (SIPp's echo port), rtpengine (its port range).
struct Drops {
  std::uint64_t bench = 0, phone = 0, rtpengine = 0;
};

Drops udp_drops(const std::vector<std::uint16_t>& ours, std::uint16_t phone, std::uint16_t low, std::uint16_t high) {
  Drops d;
  std::ifstream in("/proc/net/udp");
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string slot, local, field, last;
    f >> slot >> local;
    while (f >> field) last = field;
    if (!local.starts_with("0100007F:")) continue;
    const auto port = static_cast<std::uint16_t>(std::stoul(local.substr(9), nullptr, 16));
    const auto drops = std::stoull(last);
    if (std::find(ours.begin(), ours.end(), port) != ours.end()) d.bench += drops;
    else if (port == phone) d.phone += drops;
    else if (port >= low && port <= high) d.rtpengine += drops;
  }
  return d;
}

// A "key = value" of an ini-style file, as a number; 0 when absent.
unsigned long ini_number(const std::filesystem::path& file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with(key + " = ")) return std::stoul(line.substr(key.size() + 3));
  return 0;
}

pid_t pid_in(const std::filesystem::path& file) {
  std::ifstream in(file);
  pid_t pid = 0;
  in >> pid;
  return pid;
}


}  // namespace

json::object phone_load(const PhoneOptions& o) {
  const std::size_t most = o.levels.empty() ? 0 : o.levels.back();
  // Four rtpengine ports a call (RTP and RTCP, both sides), with room to spare.
  VoiceRig rig(o, "phone-load", {"--rtp-ports", std::to_string(std::max<std::size_t>(200, most * 6))});
  const auto& dir = rig.dir;
  auto admin = rig.relay.admin();
  std::vector<Call> calls(most);
  for (std::size_t i = 0; i < most; ++i) {
    calls[i].number = fmt::format("+6281299{:06}", i);
    calls[i].id = fmt::format("load{}x{}", i, ::getpid());
    calls[i].from_tag = fmt::format("f{}", i);
    const auto r = admin.request("POST", "/v1/sessions",
                                 json::serialize(json::object{
                                     {"talent", "bench"}, {"client", calls[i].number}, {"package", "chat-call-60m"}}));
    if (r.status != 201) throw std::runtime_error("booking failed: " + r.body);
  }

  // The talent's phone: registered, answering every call, echoing its media.
  const auto talent_port = client::free_port();
  const auto echo_port = client::free_port();
  client::LoggedProcess talent("/usr/bin/sipp", dir / "talent.log");
  talent.start({"-sf", o.scenarios + "/answer.xml", "-i", "127.0.0.1", "-p", std::to_string(talent_port), "-mi",
                "127.0.0.1", "-mp", std::to_string(echo_port), "-rtp_echo", "-m", std::to_string(most),
                "-nostdin", "-timeout", "600s", "-l", std::to_string(most + 1)});
  rig.register_talent("bench", talent_port);

  const pid_t rtpengine = pid_in(dir / "voice" / "rtpengine.pid");
  const auto rtp_low = static_cast<std::uint16_t>(ini_number(dir / "voice" / "rtpengine.conf", "port-min"));
  const auto rtp_high = static_cast<std::uint16_t>(ini_number(dir / "voice" / "rtpengine.conf", "port-max"));
  Phones phones(rig.port_of("sip"));
  json::array levels;
  std::size_t up = 0, carried = 0;
  for (const auto level : o.levels) {
    while (up < level) phones.invite(calls[up++]);
    std::vector<std::uint16_t> ours;
    for (std::size_t i = 0; i < up; ++i) ours.push_back(calls[i].rtp->port);
    const auto drops = [&] { return udp_drops(ours, echo_port, rtp_low, rtp_high); };
    const Drops d0 = drops();
    const double cpu0 = rtpengine ? process_cpu_seconds(rtpengine) : 0;
    const auto t0 = Clock::now();
    const Media m = talk(std::span<Call>(calls).first(up), o.load_seconds);
    const Drops d1 = drops();
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = rtpengine ? (process_cpu_seconds(rtpengine) - cpu0) / secs : 0;
    const double loss = m.sent ? 1.0 - static_cast<double>(m.received) / static_cast<double>(m.sent) : 1.0;
    const double p99_ms = static_cast<double>(m.rtt.quantile(0.99)) / 1e6;
    const bool good = loss <= 0.01 && p99_ms <= 50;
    if (good) carried = level;
    levels.push_back(json::object{{"calls", level},
                                  {"packets_sent", m.sent},
                                  {"loss_percent", std::round(loss * 10000) / 100},
                                  {"rtt_p50_ms", static_cast<double>(m.rtt.quantile(0.5)) / 1e6},
                                  {"rtt_p99_ms", p99_ms},
                                  {"rtpengine_cpu_percent", std::round(cpu * 1000) / 10},
                                  // Where packets were lost: full receive buffers, by owner.
                                  {"dropped_by_rtpengine", d1.rtpengine - d0.rtpengine},
                                  {"dropped_by_talent_phone", d1.phone - d0.phone},
                                  {"dropped_by_bench", d1.bench - d0.bench},
                                  {"good", good}});
    if (!good) break;
  }
  for (std::size_t i = 0; i < up; ++i) phones.bye(calls[i]);
  talent.stop(SIGTERM);
  return {{"target", "kamailio+rtpengine(userspace)"},
          {"workload", "phone-load"},
          {"seconds_per_level", o.load_seconds},
          {"levels", std::move(levels)},
          {"calls_carried", carried},
          {"criterion", "echo loss <= 1% and round-trip p99 <= 50 ms"}};
}

}  // namespace tirai::bench
