// Neighbour services that misbehave, end to end: Kannel, coturn's CLI and
// Kamailio's JSON-RPC replaced by a listener of the test's own that never
// answers, answers garbage, or refuses. tiraid must keep relaying chat, try
// again with backoff where something is owed, count every failure, log once
// per change of state, and catch up once the neighbour answers again. (Each
// neighbour down, its port closed, is in e2e_sms_test, e2e_calls_test and
// e2e_phone_test with the real programs.)
#include "support/relay_fixture.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

using namespace tirai;
using namespace tirai::test;

namespace {

const std::string P1 = "+6281100000001";
const std::string C1 = "+6281234567890";
const std::string C2 = "+6281234567891";

// A loopback listener standing in for a neighbour, in one of these moods.
enum class Mood {
  silent,   // accepts, reads, never answers (a hung service)
  garbage,  // answers bytes that are no protocol at all, and closes
  answer,   // answers `reply` to each request (its head, and its body by Content-Length), and closes
};

class FakeNeighbour {
 public:
  explicit FakeNeighbour(Mood mood) : mood_(mood) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener_ >= 0);
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&at), sizeof at) == 0);
    REQUIRE(::listen(listener_, 64) == 0);
    socklen_t len = sizeof at;
    REQUIRE(::getsockname(listener_, reinterpret_cast<sockaddr*>(&at), &len) == 0);
    port_ = ntohs(at.sin_port);
    REQUIRE(::pipe2(stop_, O_CLOEXEC) == 0);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeNeighbour() {
    if (::write(stop_[1], "x", 1) != 1) std::abort();  // the thread would never end
    thread_.join();
    for (int fd : {listener_, stop_[0], stop_[1]}) ::close(fd);
  }
  FakeNeighbour(const FakeNeighbour&) = delete;
  FakeNeighbour& operator=(const FakeNeighbour&) = delete;

  std::uint16_t port() const { return port_; }
  // From now on, each request gets `reply`.
  void answer_with(std::string reply) {
    std::lock_guard lock(mutex_);
    reply_ = std::move(reply);
    mood_ = Mood::answer;
  }
  std::size_t connections() const { return connections_.load(); }
  // The requests answered so far, whole.
  std::vector<std::string> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  struct Peer {
    int fd;
    std::string in;
  };

  void run() {
    std::vector<Peer> peers;
    for (;;) {
      std::vector<pollfd> fds{{stop_[0], POLLIN, 0}, {listener_, POLLIN, 0}};
      for (const auto& p : peers) fds.push_back({p.fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents) break;
      if (fds[1].revents & POLLIN) {
        const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
          ++connections_;
          peers.push_back({fd, {}});
          std::lock_guard lock(mutex_);
          if (mood_ == Mood::garbage) respond(peers.back(), "\x16\x03\x01 <<not a protocol>> \xff\xfe\r\n\r\n");
        }
      }
      for (std::size_t i = 2; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        auto& p = peers[i - 2];
        char buf[4096];
        const auto n = ::recv(p.fd, buf, sizeof buf, 0);
        if (n <= 0) {
          ::close(std::exchange(p.fd, -1));
          continue;
        }
        p.in.append(buf, static_cast<std::size_t>(n));
        std::lock_guard lock(mutex_);
        if (mood_ == Mood::answer && whole(p.in)) {
          requests_.push_back(p.in);
          respond(p, reply_);
        }
      }
      std::erase_if(peers, [](const Peer& p) { return p.fd < 0; });
    }
    for (auto& p : peers)
      if (p.fd >= 0) ::close(p.fd);
  }

  // A head, and as much body as its Content-Length says.
  static bool whole(const std::string& in) {
    const auto end = in.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    std::size_t length = 0;
    std::string head = in.substr(0, end);
    std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
    if (const auto at = head.find("\r\ncontent-length:"); at != std::string::npos)
      length = std::stoul(head.substr(at + 17));
    return in.size() >= end + 4 + length;
  }

  static void respond(Peer& p, const std::string& bytes) {
    (void)::send(p.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    ::close(std::exchange(p.fd, -1));
  }

  Mood mood_;
  std::string reply_;
  std::vector<std::string> requests_;
  mutable std::mutex mutex_;
  std::atomic<std::size_t> connections_{0};
  int listener_ = -1;
  int stop_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  std::thread thread_;
};

const char* mood_name(Mood m) { return m == Mood::silent ? "silent" : m == Mood::garbage ? "garbage" : "refusing"; }

std::size_t count_lines(const std::string& log, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
  return n;
}

// The value of one sample in /metrics ("name{labels}"), or -1 when absent.
double metric(Relay& r, std::string_view sample) {
  const auto body = r.call("GET", "/metrics").body;
  const auto at = body.find("\n" + std::string(sample) + " ");
  if (at == std::string::npos) return -1;
  return std::stod(body.substr(at + sample.size() + 2));
}

// A talent and a web client chatting both ways in a session of their own:
// what must go on whatever a neighbour does.
void chat_goes_on(Relay& r, WsClient& talent, const std::string& tag) {
  const auto booked = r.call("POST", "/v1/sessions",
                             json::object{{"talent", "natasha"}, {"client", C2}, {"package", "chat-30m"}, {"sms", false}});
  REQUIRE(booked.status == 201);
  auto web = parse(booked.body);
  expect(talent, "session");
  auto client = r.client(web);
  client.send(send_frame(web, "c-" + tag, "halo " + tag));
  expect(client, "accepted");
  CHECK(str(expect(talent, "message")["text"]) == "halo " + tag);
  talent.send(send_frame(web, "t-" + tag, "iya " + tag));
  expect(talent, "accepted");
  CHECK(str(expect(client, "message")["text"]) == "iya " + tag);
}

std::string sms_toml(std::uint16_t kannel_port) {
  return sms_table({P1}, kannel_port) +
         "request_timeout = \"300ms\"\nretry_min = \"100ms\"\nretry_max = \"400ms\"\n[log]\nlevel = \"debug\"\n";
}

}  // namespace

TEST_CASE("Kannel hung, answering garbage or refusing: replies wait with backoff, chat goes on, one warning",
          "[e2e][sms][faults]") {
  for (const Mood mood : {Mood::silent, Mood::garbage, Mood::answer}) {
    INFO("Kannel " << mood_name(mood));
    FakeNeighbour kannel(mood);
    if (mood == Mood::answer) kannel.answer_with("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    Relay r(sms_toml(kannel.port()));
    r.enrol("natasha");
    auto talent = r.talent("natasha");
    auto b = r.book("natasha", C1);
    expect(talent, "session");
    const auto from = r.daemon.log_lines();
    talent.send(send_frame(b, "r1", "maaf telat balas"));
    // Tried again and again, the wait doubling from retry_min to retry_max.
    REQUIRE(r.daemon.wait_for_log("(try 5); next try in 400ms", from));
    const auto lines = r.daemon.lines(from);
    std::vector<std::string> waits;
    for (const auto& l : lines)
      if (const auto at = l.find("; next try in "); at != std::string::npos && l.find("[sms] Kannel") != std::string::npos)
        waits.push_back(l.substr(at + 14));
    REQUIRE(waits.size() >= 5);
    CHECK(std::vector(waits.begin(), waits.begin() + 5) ==
          std::vector<std::string>{"100ms", "200ms", "400ms", "400ms", "400ms"});
    chat_goes_on(r, talent, mood_name(mood));
    // No accepted for the SMS reply while Kannel has not taken it: the next
    // frame the talent gets is the one it asks for now.
    talent.send(R"({"type":"ack","session":"s_aaaaaaaaaaaaaaaaaaaaaaaaaa","seq":1})");
    CHECK(expect(talent, "error")["code"] == "not_in_session");
    CHECK(metric(r, R"(tirai_neighbour_up{neighbour="kannel"})") == 0);
    CHECK(metric(r, R"(tirai_neighbour_failures_total{neighbour="kannel"})") >= 5);
    kannel.answer_with("HTTP/1.1 202 Accepted\r\nContent-Length: 24\r\n\r\n0: Accepted for delivery");
    CHECK(expect(talent, "accepted")["id"] == "r1");
    REQUIRE(r.daemon.wait_for_log("[sms] Kannel sendsms answers again, after", from));
    CHECK(metric(r, R"(tirai_neighbour_up{neighbour="kannel"})") == 1);
    const auto log = r.daemon.log();
    CHECK(count_lines(log, "warning [sms] Kannel sendsms") == 1);
    CHECK(count_lines(log, "answers again") == 1);
  }
}

TEST_CASE("coturn's CLI hung or answering garbage: calls fail within turn_admin_timeout, chat goes on, one warning",
          "[e2e][calls][faults]") {
  for (const Mood mood : {Mood::silent, Mood::garbage}) {
    INFO("coturn " << mood_name(mood));
    FakeNeighbour coturn(mood);
    Relay r(fmt::format("[calls]\nenabled = true\nturn_urls = [\"turn:127.0.0.1:3478?transport=udp\"]\n"
                        "turn_admin = \"127.0.0.1:{}\"\nturn_admin_timeout = \"300ms\"\n[log]\nlevel = \"debug\"\n",
                        coturn.port()));
    r.enrol("natasha");
    auto talent = r.talent("natasha");
    auto b = r.book("natasha", C1, "chat-call-60m");
    expect(talent, "session");
    auto client = r.client(b);
    const auto call = [&](std::string_view id) {
      client.send(json::serialize(
          json::object{{"type", "call"}, {"action", "start"}, {"session", b["session"]}, {"id", id}}));
      const auto ended = [](WsClient& ws) {
        for (;;) {
          auto f = parse(ws.receive());
          if (f["type"] == "call" && f["action"] == "ended") return std::string(f["reason"].as_string());
        }
      };
      const auto reason = ended(client);
      CHECK(ended(talent) == reason);
      return reason;
    };
    CHECK(call("k1") == "failed");
    chat_goes_on(r, talent, mood_name(mood));
    CHECK(call("k2") == "failed");
    CHECK(metric(r, R"(tirai_neighbour_up{neighbour="coturn"})") == 0);
    // Two checks, and the cancels of the two failed calls' allocations,
    // which are owed and tried again: 1 s, then 2 s.
    REQUIRE(r.daemon.wait_for_log("next try in 2s"));
    CHECK(metric(r, R"(tirai_neighbour_failures_total{neighbour="coturn"})") >= 4);
    CHECK(count_lines(r.daemon.log(), "warning [calls] coturn's CLI (calls.turn_admin)") == 1);
  }
}

TEST_CASE("Kamailio's JSON-RPC hung or answering garbage: the session's end hangs its call up once it answers",
          "[e2e][phone][faults]") {
  for (const Mood mood : {Mood::silent, Mood::garbage, Mood::answer}) {
    INFO("Kamailio " << mood_name(mood));
    FakeNeighbour kamailio(mood);
    if (mood == Mood::answer) kamailio.answer_with("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot json!");
    const auto seam = client::free_port();
    Relay r(sms_toml(9) + fmt::format("[phone]\nenabled = true\nlisten = \"127.0.0.1:{}\"\nkamailio_rpc = "
                                      "\"127.0.0.1:{}\"\nrpc_timeout = \"300ms\"\n",
                                      seam, kamailio.port()));
    r.enrol("natasha");
    auto talent = r.talent("natasha");
    auto b = r.book("natasha", C1, "chat-call-60m");
    expect(talent, "session");
    // Kamailio's side of a call into the proxy number, as its http_client asks.
    auto secret = test::read_file(r.dir.path() / "phone-seam.secret");
    while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) secret.pop_back();
    const client::AdminClient ask("127.0.0.1", seam, secret);
    const auto rang = ask.request("GET", fmt::format("/v1/phone/inbound?from=%2B{}&to=%2B{}&dialog=7:70&tx=5:50",
                                                     C1.substr(1), P1.substr(1)));
    REQUIRE(rang.status == 200);
    REQUIRE(ask.request("GET", "/v1/phone/event?dialog=7:70&event=answered").status == 200);
    const auto from = r.daemon.log_lines();
    REQUIRE(r.call("POST", "/v1/sessions/" + sid(b) + "/end").status < 300);
    CHECK(expect(talent, "session")["state"] == "closing");
    REQUIRE(r.daemon.wait_for_log("call 7:70 in", from));
    REQUIRE(r.daemon.wait_for_log("hang-ups wait for Kamailio; next try in 2s", from));
    chat_goes_on(r, talent, mood_name(mood));
    CHECK(metric(r, R"(tirai_neighbour_up{neighbour="kamailio"})") == 0);
    const auto tries = kamailio.connections();
    CHECK(tries >= 2);
    kamailio.answer_with("HTTP/1.1 200 OK\r\nContent-Length: 36\r\n\r\n{\"jsonrpc\":\"2.0\",\"result\":{},\"id\":1}");
    REQUIRE(r.daemon.wait_for_log("[phone] Kamailio's JSON-RPC (phone.kamailio_rpc) answers again", from));
    CHECK(metric(r, R"(tirai_neighbour_up{neighbour="kamailio"})") == 1);
    const auto log = r.daemon.log();
    CHECK(count_lines(log, "warning [phone] Kamailio's JSON-RPC") == 1);
    CHECK(log.find("Kamailio did not hang up call 7:70") == std::string::npos);
  }
}

TEST_CASE("Kamailio down at start-up: the hang-up of an earlier run's calls waits, and spares this run's",
          "[e2e][phone][faults]") {
  FakeNeighbour kamailio(Mood::garbage);
  const auto seam = client::free_port();
  Relay r(sms_toml(9) + fmt::format("[phone]\nenabled = true\nlisten = \"127.0.0.1:{}\"\nkamailio_rpc = "
                                    "\"127.0.0.1:{}\"\nrpc_timeout = \"300ms\"\n",
                                    seam, kamailio.port()));
  // Tried at start-up, then 1 s later; the next try is 2 s away.
  REQUIRE(r.daemon.wait_for_log("1 hang-ups wait for Kamailio; next try in 2s"));
  r.enrol("natasha");
  r.book("natasha", C1, "chat-call-60m");
  auto secret = test::read_file(r.dir.path() / "phone-seam.secret");
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) secret.pop_back();
  const client::AdminClient ask("127.0.0.1", seam, secret);
  // Meanwhile Kamailio is back, and lets a call through: dialog 7:70.
  REQUIRE(ask.request("GET", fmt::format("/v1/phone/inbound?from=%2B{}&to=%2B{}&dialog=7:70&tx=5:50", C1.substr(1),
                                         P1.substr(1)))
              .status == 200);
  REQUIRE(ask.request("GET", "/v1/phone/event?dialog=7:70&event=answered").status == 200);
  // Its dialogs: this run's call, and one an earlier run let through.
  const std::string listing =
      R"({"jsonrpc":"2.0","result":[{"h_entry":7,"h_id":70,"variables":[{"tirai":"1"}]},)"
      R"({"h_entry":9,"h_id":90,"variables":[{"tirai":"1"}]}],"id":1})";
  kamailio.answer_with(fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}", listing.size(), listing));
  REQUIRE(r.daemon.wait_for_log("hung up 1 phone calls left from before the restart"));
  std::vector<std::string> ended;
  for (const auto& req : kamailio.requests())
    if (req.find("dlg.end_dlg") != std::string::npos) ended.push_back(req.substr(req.find("\r\n\r\n") + 4));
  REQUIRE(ended.size() == 1);
  CHECK(ended[0].find("[9,90]") != std::string::npos);
  // This run's call goes on.
  CHECK(metric(r, "tirai_phone_calls_active") == 1);
  for (const auto& line : r.daemon.lines()) CHECK_FALSE((line.find("call 7:70 in") != std::string::npos && line.find(" ended (") != std::string::npos));
}

