// tirai-bench --workload journal: load that remembers what the relay
// promised, for tools/crash-trials.sh. A run books its sessions once (kept
// in DIR/sessions.json), then each endpoint sends message after message and
// appends to DIR/journal.log every `accepted` it got and every `message` it
// received, before acking it. The relay may be killed at any moment; the run
// ends when its connections do. `--verify` then checks the whole journal,
// across every run and restart, against the design's promise (§5): every
// message answered `accepted` reaches its peer, no committed seq is missing
// (no gap), each endpoint sees new seqs in increasing order (no reorder;
// redelivery of a seq it had is fine, with the same text), and every booked
// session is still there, live, with no other beside it.
#include "tools/bench/journal.hpp"

#include "tools/client.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

namespace tirai::bench {

namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

struct Pair {
  std::string session, token, alias, secret;
};

std::string str(const json::value& v) { return std::string(v.as_string()); }

// The sessions of this journal: booked on the first run, read after.
std::vector<Pair> sessions(const JournalOptions& o, const client::AdminClient& admin) {
  const auto file = o.dir / "sessions.json";
  std::vector<Pair> out;
  if (std::filesystem::exists(file)) {
    std::ifstream in(file);
    std::stringstream ss;
    ss << in.rdbuf();
    const auto saved = json::parse(ss.str());
    for (const auto& p : saved.as_array()) {
      const auto& po = p.as_object();
      out.push_back({str(po.at("session")), str(po.at("token")), str(po.at("alias")), str(po.at("secret"))});
    }
    return out;
  }
  json::array saved;
  for (std::size_t i = 0; i < o.pairs; ++i) {
    Pair p{"", "", fmt::format("journal{}", i), fmt::format("journal-secret-{:04}-0123456789", i)};
    auto r = admin.request("POST", "/v1/talents", json::serialize(json::object{{"alias", p.alias}, {"secret", p.secret}}));
    if (r.status != 201) throw std::runtime_error(fmt::format("enrolling {}: HTTP {} {}", p.alias, r.status, r.body));
    r = admin.request("POST", "/v1/sessions",
                      json::serialize(json::object{
                          {"talent", p.alias}, {"client", fmt::format("+62899{:07}", i)}, {"package", o.package}}));
    if (r.status != 201) throw std::runtime_error(fmt::format("booking: HTTP {} {}", r.status, r.body));
    auto b = json::parse(r.body).as_object();
    p.session = str(b.at("session"));
    p.token = str(b.at("client_token"));
    saved.push_back(json::object{{"session", p.session}, {"token", p.token}, {"alias", p.alias}, {"secret", p.secret}});
    out.push_back(std::move(p));
  }
  std::ofstream(file) << json::serialize(saved);
  return out;
}

// Journal lines, one per event, written whole and flushed at once: a run
// killed with the relay loses nothing it had written.
class Journal {
 public:
  explicit Journal(const std::filesystem::path& file) : out_(file, std::ios::app) {}
  void write(const std::string& line) {
    std::lock_guard lock(mutex_);
    out_ << line << '\n';
    out_.flush();
  }

 private:
  std::mutex mutex_;
  std::ofstream out_;
};

client::WsClient connect(const JournalOptions& o, const Pair& p, bool talent) {
  client::WsClient ws(o.host, o.relay_port, 10s);
  ws.send(talent ? fmt::format(R"({{"type":"hello","role":"talent","alias":"{}","secret":"{}"}})", p.alias, p.secret)
                 : fmt::format(R"({{"type":"hello","role":"client","token":"{}"}})", p.token));
  return ws;
}

// One endpoint: until `stop` or the connection ends, sends a message and
// reads frames until its `accepted`, journaling and acking what arrives.
// With `probe_only`, sends one message and returns once the peer side has
// been handled by the caller.
struct Endpoint {
  const JournalOptions& o;
  const Pair& p;
  bool talent;
  Journal& journal;
  std::size_t sent = 0, received = 0;
  std::int64_t newest = 0;  // the highest seq received

  std::string role() const { return talent ? "talent" : "client"; }

  // Reads frames until `done(frame)` says so; journals and acks messages.
  template <typename Done>
  void read_until(client::WsClient& ws, Done done) {
    for (;;) {
      const auto text = ws.receive();
      auto f = json::parse(text).as_object();
      const auto type = str(f.at("type"));
      if (type == "message") {
        const auto seq = f.at("seq").as_int64();
        newest = std::max(newest, seq);
        journal.write(fmt::format("R {} {} {} {}", p.session, role(), seq, str(f.at("text"))));
        ++received;
        ws.send(fmt::format(R"({{"type":"ack","session":"{}","seq":{}}})", p.session, seq));
      }
      if (done(type, f)) return;
    }
  }

  // Sends `id` and waits for its accepted; the seq.
  std::int64_t send_one(client::WsClient& ws, const std::string& id) {
    const auto text = fmt::format("{} {}", role(), id);
    ws.send(json::serialize(json::object{{"type", "send"}, {"session", p.session}, {"id", id}, {"text", text}}));
    std::int64_t seq = 0;
    read_until(ws, [&](const std::string& type, json::object& f) {
      if (type == "error") throw std::runtime_error(fmt::format("{} got {}", role(), json::serialize(f)));
      if (type != "accepted" || str(f.at("id")) != id) return false;
      seq = f.at("seq").as_int64();
      return true;
    });
    journal.write(fmt::format("A {} {} {} {}", p.session, role(), seq, text));
    ++sent;
    return seq;
  }

  // Reads until the message `seq` (or a later one) has been received.
  void wait_for(client::WsClient& ws, std::int64_t seq) {
    if (newest >= seq) return;
    read_until(ws, [&](const std::string&, json::object&) { return newest >= seq; });
  }
};

void welcome(Endpoint& e, client::WsClient& ws) {
  e.read_until(ws, [&](const std::string& type, json::object& f) {
    if (type == "error") throw std::runtime_error(fmt::format("{} hello: {}", e.role(), json::serialize(f)));
    return type == "welcome";
  });
}

struct Line {
  char kind;
  std::string session, role;
  std::int64_t seq;
  std::string text;
};

std::vector<Line> read_journal(const std::filesystem::path& file) {
  std::vector<Line> out;
  std::ifstream in(file);
  std::string l;
  while (std::getline(in, l)) {
    std::istringstream ss(l);
    Line x;
    ss >> x.kind >> x.session >> x.role >> x.seq;
    std::getline(ss >> std::ws, x.text);
    if (!ss && !ss.eof()) throw std::runtime_error("a broken journal line: " + l);
    out.push_back(std::move(x));
  }
  return out;
}

}  // namespace

json::object journal_load(const JournalOptions& o) {
  const client::AdminClient admin(o.host, o.admin_port, o.admin_token);
  const auto pairs = sessions(o, admin);
  Journal journal(o.dir / "journal.log");
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> sent{0}, received{0}, ended{0};
  std::vector<std::thread> threads;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(o.seconds);
  for (const auto& p : pairs)
    for (bool talent : {true, false})
      threads.emplace_back([&, talent, pp = &p] {
        Endpoint e{o, *pp, talent, journal};
        try {
          auto ws = connect(o, *pp, talent);
          welcome(e, ws);
          for (std::size_t k = 0; !stop && std::chrono::steady_clock::now() < deadline; ++k)
            e.send_one(ws, fmt::format("{}-{}-{}", o.run, e.role()[0], k));
        } catch (const std::exception&) {
          ++ended;  // the relay went away (killed): what was journaled stands
        }
        sent += e.sent;
        received += e.received;
      });
  for (auto& t : threads) t.join();
  return json::object{{"workload", "journal"}, {"run", o.run},         {"pairs", pairs.size()},
                      {"sent", sent.load()},   {"received", received.load()}, {"connections_ended", ended.load()}};
}

json::object journal_verify(const JournalOptions& o) {
  const client::AdminClient admin(o.host, o.admin_port, o.admin_token);
  const auto pairs = sessions(o, admin);
  Journal journal(o.dir / "journal.log");
  // Each pair: both sides connect and send a probe; once each has received
  // the other's probe, everything committed before it has been delivered
  // (delivery is in order).
  for (const auto& p : pairs) {
    Endpoint t{o, p, true, journal}, c{o, p, false, journal};
    auto tws = connect(o, p, true);
    auto cws = connect(o, p, false);
    welcome(t, tws);
    welcome(c, cws);
    const auto tseq = t.send_one(tws, fmt::format("{}-probe-t", o.run));
    const auto cseq = c.send_one(cws, fmt::format("{}-probe-c", o.run));
    c.wait_for(cws, tseq);
    t.wait_for(tws, cseq);
  }
  std::vector<std::string> problems;
  const auto lines = read_journal(o.dir / "journal.log");
  struct Side {
    std::int64_t newest = 0;
    std::map<std::int64_t, std::string> got;  // seq -> text
  };
  std::map<std::pair<std::string, std::string>, Side> sides;  // (session, receiver)
  std::size_t accepted = 0, redelivered = 0;
  for (const auto& l : lines) {
    if (l.kind != 'R') continue;
    auto& s = sides[{l.session, l.role}];
    if (auto it = s.got.find(l.seq); it != s.got.end()) {
      ++redelivered;
      if (it->second != l.text) problems.push_back(fmt::format("{} seq {} came again with another text", l.session, l.seq));
      continue;
    }
    if (l.seq < s.newest)
      problems.push_back(fmt::format("{}: the {} got seq {} after {} (reordered)", l.session, l.role, l.seq, s.newest));
    s.newest = std::max(s.newest, l.seq);
    s.got.emplace(l.seq, l.text);
  }
  std::map<std::string, std::int64_t> highest;
  for (const auto& l : lines) highest[l.session] = std::max(highest[l.session], l.seq);
  for (const auto& l : lines) {
    if (l.kind != 'A') continue;
    ++accepted;
    const auto& peer = sides[{l.session, l.role == "talent" ? "client" : "talent"}];
    const auto it = peer.got.find(l.seq);
    if (it == peer.got.end()) problems.push_back(fmt::format("{} seq {} was accepted and never delivered", l.session, l.seq));
    else if (it->second != l.text) problems.push_back(fmt::format("{} seq {} was delivered with another text", l.session, l.seq));
  }
  std::size_t gaps = 0;
  for (const auto& [session, top] : highest)
    for (std::int64_t seq = 1; seq <= top; ++seq)
      if (!sides[{session, "talent"}].got.contains(seq) && !sides[{session, "client"}].got.contains(seq)) {
        ++gaps;
        problems.push_back(fmt::format("{} seq {} is missing (a gap)", session, seq));
      }
  // The sessions: every one booked still there and live, no other.
  const auto listed = admin.request("GET", "/v1/sessions");
  if (listed.status != 200) throw std::runtime_error("listing sessions: HTTP " + std::to_string(listed.status));
  std::set<std::string> booked;
  for (const auto& p : pairs) booked.insert(p.session);
  std::size_t live = 0;
  const auto listing = json::parse(listed.body);
  for (const auto& s : listing.as_object().at("sessions").as_array()) {
    const auto id = str(s.as_object().at("session"));
    const auto state = str(s.as_object().at("state"));
    if (!booked.contains(id)) problems.push_back("a session nobody booked: " + id);
    else if (state != "open" && state != "active") problems.push_back(fmt::format("{} is {}", id, state));
    else ++live;
  }
  if (live != booked.size()) problems.push_back(fmt::format("{} of {} booked sessions are live", live, booked.size()));
  json::array shown;
  for (std::size_t i = 0; i < problems.size() && i < 20; ++i) shown.emplace_back(problems[i]);
  return json::object{{"workload", "journal-verify"},
                      {"sessions", booked.size()},
                      {"accepted", accepted},
                      {"redelivered", redelivered},
                      {"gaps", gaps},
                      {"problems", problems.size()},
                      {"first_problems", std::move(shown)},
                      {"ok", problems.empty()}};
}

}  // namespace tirai::bench
