#include "crypto/random.hpp"
#include "relay/session_manager.hpp"
#include "support/temp_dir.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <deque>

using namespace tirai;
using namespace tirai::relay;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// Queues store jobs and runs them in groups when the test says so, in one
// transaction, dones after commit: the real worker's contract, made
// deterministic.
class QueuedStore final : public StoreRunner {
 public:
  explicit QueuedStore(store::Store& st) : st_(st) {}
  void submit(Job job, Done done) override { queue_.emplace_back(std::move(job), std::move(done)); }
  bool run_group() {
    if (queue_.empty()) return false;
    auto group = std::move(queue_);
    queue_.clear();
    std::vector<std::exception_ptr> errors(group.size());
    {
      store::Transaction tx(st_.db());
      for (std::size_t i = 0; i < group.size(); ++i) {
        store::Savepoint sp(st_.db());
        try {
          group[i].first(st_);
          sp.release();
        } catch (...) {
          errors[i] = std::current_exception();
        }
      }
      tx.commit();
    }
    for (std::size_t i = 0; i < group.size(); ++i)
      if (group[i].second) group[i].second(errors[i]);
    return true;
  }

 private:
  store::Store& st_;
  std::vector<std::pair<Job, Done>> queue_;
};

class QueuedWorker final : public Worker {
 public:
  void run(std::function<void()> work, std::function<void()> done) override {
    queue_.emplace_back(std::move(work), std::move(done));
  }
  bool run_one() {
    if (queue_.empty()) return false;
    auto item = std::move(queue_.front());
    queue_.pop_front();
    item.first();
    item.second();
    return true;
  }

 private:
  std::deque<std::pair<std::function<void()>, std::function<void()>>> queue_;
};

class FakePeer final : public Peer {
 public:
  void deliver(std::shared_ptr<const std::string> frame) override {
    if (!closed) frames.push_back(*frame);
  }
  void close(CloseCode code, std::string_view) override {
    if (!closed) closed = code;
  }
  std::vector<json::object> of_type(std::string_view type) const {
    std::vector<json::object> out;
    for (const auto& f : frames) {
      auto o = json::parse(f).as_object();
      if (o["type"].as_string() == type) out.push_back(o);
    }
    return out;
  }
  json::object last() const { return json::parse(frames.back()).as_object(); }
  std::vector<std::string> frames;
  std::optional<CloseCode> closed;
};

const crypto::PasswordCost cheap{1, 8u << 20};
constexpr UnixMs t0 = 1'790'000'000'000;

struct Fixture {
  test::TempDir dir;
  crypto::Keyring keys{[] {
    auto b = crypto::random_bytes(32);
    return crypto::Secret(b.data(), b.size());
  }()};
  Config config = [] {
    Config c;
    c.sessions.warn_before = 5min;
    c.sessions.grace = 60s;
    c.packages = {{"chat-30m", {"chat-30m", {"chat"}, 30min, std::nullopt}},
                  {"chat-3", {"chat-3", {"chat"}, 30min, 3}}};
    return c;
  }();
  std::unique_ptr<store::Store> st = std::make_unique<store::Store>(dir.path() / "t.db", store::Synchronous::normal, keys);
  QueuedStore store{*st};
  QueuedWorker worker;
  FakeClock clock{t0};
  Metrics metrics;
  std::unique_ptr<SessionManager> mgr = make_manager();

  std::unique_ptr<SessionManager> make_manager() {
    return std::make_unique<SessionManager>(config, store, worker, keys, clock, metrics, cheap);
  }

  void settle() {
    while (store.run_group() || worker.run_one()) {
    }
  }

  void enrol(const std::string& alias, const std::string& secret = "correct horse battery") {
    std::optional<AdminError> err{AdminError{}};
    mgr->add_talent(alias, secret, [&](std::optional<AdminError> e) { err = e; });
    settle();
    REQUIRE_FALSE(err);
  }

  Booking book(const std::string& talent, const std::string& number = "+6281234567890",
               const std::string& package = "chat-30m") {
    std::optional<AdminResult<Booking>> result;
    mgr->book({talent, number, package}, [&](AdminResult<Booking> r) { result = std::move(r); });
    settle();
    REQUIRE(result);
    REQUIRE(std::holds_alternative<Booking>(*result));
    return std::get<Booking>(*result);
  }

  void frame(FakePeer& p, std::string_view text) {
    mgr->on_frame(p, proto::parse_frame(text, proto::Limits{4096}));
  }

  void hello_talent(FakePeer& p, const std::string& alias, const std::string& secret = "correct horse battery") {
    mgr->attach(p);
    frame(p, fmt::format(R"({{"type":"hello","role":"talent","alias":"{}","secret":"{}"}})", alias, secret));
    settle();
  }

  void hello_client(FakePeer& p, const std::string& token) {
    mgr->attach(p);
    frame(p, fmt::format(R"({{"type":"hello","role":"client","token":"{}"}})", token));
    settle();
  }

  void send(FakePeer& p, const std::string& session, const std::string& id, const std::string& text) {
    frame(p, fmt::format(R"({{"type":"send","session":"{}","id":"{}","text":"{}"}})", session, id, text));
  }

  void advance_to(UnixMs t) {
    clock.set(t);
    mgr->tick();
    settle();
  }
};

}  // namespace

TEST_CASE_METHOD(Fixture, "a booked session relays chat between alias endpoints", "[session]") {
  enrol("natasha");
  const auto b = book("natasha");
  FakePeer talent, client;
  hello_talent(talent, "natasha");
  REQUIRE(talent.of_type("welcome").size() == 1);
  auto sessions = talent.of_type("welcome")[0]["sessions"].as_array();
  REQUIRE(sessions.size() == 1);
  CHECK(sessions[0].as_object()["peer"] == b.client_alias.c_str());
  CHECK(sessions[0].as_object()["state"] == "open");

  hello_client(client, b.client_token);
  auto cw = client.of_type("welcome");
  REQUIRE(cw.size() == 1);
  CHECK(cw[0]["sessions"].as_array()[0].as_object()["peer"] == "natasha");

  send(client, b.session, "c1", "halo kak");
  CHECK(client.of_type("accepted").empty());  // not before the group commits
  settle();
  REQUIRE(client.of_type("accepted").size() == 1);
  CHECK(client.of_type("accepted")[0]["seq"] == 1);
  auto msgs = talent.of_type("message");
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0]["from"] == b.client_alias.c_str());
  CHECK(msgs[0]["text"] == "halo kak");

  send(talent, b.session, "t1", "halo juga");
  settle();
  REQUIRE(client.of_type("message").size() == 1);
  CHECK(client.of_type("message")[0]["from"] == "natasha");
  CHECK(client.of_type("message")[0]["seq"] == 2);
  CHECK(st->session(b.session)->state == proto::SessionState::active);
  // No frame to the talent carries the client's number.
  for (const auto& f : talent.frames) CHECK(f.find("81234567890") == std::string::npos);
}

TEST_CASE_METHOD(Fixture, "failed hellos get byte-identical answers and a 1008 close", "[session][privacy]") {
  enrol("natasha");
  const auto b = book("natasha");
  FakePeer unknown_alias, wrong_secret, unknown_token, closed_token;
  hello_talent(unknown_alias, "nobody");
  hello_talent(wrong_secret, "natasha", "wrong secret!!");
  hello_client(unknown_token, crypto::new_token());
  mgr->end_by_operator(b.session);
  settle();
  mgr->end_by_operator(b.session);  // during closing: closes at once
  settle();
  hello_client(closed_token, b.client_token);
  for (auto* p : {&unknown_alias, &wrong_secret, &unknown_token, &closed_token}) {
    REQUIRE(p->frames.size() == 1);
    CHECK(p->frames[0] == unknown_alias.frames[0]);
    CHECK(p->closed == CloseCode::policy);
  }
  CHECK(json::parse(unknown_alias.frames[0]).as_object()["code"] == "auth_failed");
}

TEST_CASE_METHOD(Fixture, "expiry: warning, closing with grace, then teardown", "[session][timers]") {
  enrol("natasha");
  const auto b = book("natasha");
  FakePeer talent, client;
  hello_talent(talent, "natasha");
  hello_client(client, b.client_token);

  advance_to(b.expires_at - 5 * 60'000 - 1);
  CHECK(talent.of_type("session").empty());
  advance_to(b.expires_at - 5 * 60'000);
  auto notice = client.last();
  CHECK(notice["notice"] == "expiring");
  CHECK(notice["expires_in"] == 300);
  CHECK(talent.last()["notice"] == "expiring");

  advance_to(b.expires_at);
  CHECK(client.last()["state"] == "closing");
  CHECK(client.last()["reason"] == "expired");
  CHECK(client.last()["grace_seconds"] == 60);
  // Farewells still flow during grace.
  send(client, b.session, "bye", "makasih kak");
  settle();
  CHECK(talent.last()["text"] == "makasih kak");

  advance_to(b.expires_at + 60'000 - 1);
  CHECK_FALSE(client.closed);
  advance_to(b.expires_at + 60'000);
  CHECK(client.last()["state"] == "closed");
  CHECK(talent.last()["state"] == "closed");
  CHECK(client.closed == CloseCode::normal);
  const auto rec = st->session(b.session);
  CHECK(rec->state == proto::SessionState::closed);
  CHECK(rec->close_reason == "expired");
  CHECK(rec->token_hash.empty());

  // After teardown the session is as if it never existed.
  send(talent, b.session, "t9", "halo?");
  settle();
  CHECK(talent.last()["code"] == "not_in_session");
}

TEST_CASE_METHOD(Fixture, "minimal records are purged after retention", "[session][timers][privacy]") {
  config.sessions.retention = 24h;
  mgr = make_manager();
  enrol("natasha");
  const auto b = book("natasha");
  mgr->end_by_operator(b.session);
  mgr->end_by_operator(b.session);
  settle();
  REQUIRE(st->session(b.session));
  advance_to(t0 + 24 * 3'600'000 - 1);
  REQUIRE(st->session(b.session));
  advance_to(t0 + 24 * 3'600'000 + 10 * 60'000 + 1);  // retention, plus at most one sweep interval
  CHECK_FALSE(st->session(b.session));
}

TEST_CASE_METHOD(Fixture, "grace of zero closes at once", "[session][timers]") {
  config.sessions.grace = 0s;
  mgr = make_manager();
  enrol("natasha");
  const auto b = book("natasha");
  FakePeer client;
  hello_client(client, b.client_token);
  frame(client, R"({"type":"end","session":")" + b.session + "\"}");
  settle();
  CHECK(client.last()["state"] == "closed");
  CHECK(client.last()["reason"] == "ended_by_client");
  CHECK(client.closed == CloseCode::normal);
}

TEST_CASE_METHOD(Fixture, "reconnect replays every unacknowledged message in order, once", "[session]") {
  enrol("natasha");
  const auto b = book("natasha");
  FakePeer client;
  hello_client(client, b.client_token);
  for (int i = 1; i <= 3; ++i) send(client, b.session, fmt::format("c{}", i), fmt::format("m{}", i));
  settle();

  FakePeer talent;
  mgr->attach(talent);
  frame(talent, R"({"type":"hello","role":"talent","alias":"natasha","secret":"correct horse battery"})");
  worker.run_one();                         // the secret is verified; the replay read is queued
  send(client, b.session, "c4", "m4");      // committed in the same group as the replay read
  store.run_group();
  send(client, b.session, "c5", "m5");      // committed after it: must come live, after the replay
  settle();
  auto msgs = talent.of_type("message");
  REQUIRE(msgs.size() == 5);
  for (int i = 0; i < 5; ++i) CHECK(msgs[static_cast<std::size_t>(i)]["seq"] == i + 1);

  // Acknowledged messages are not replayed again.
  frame(talent, R"({"type":"ack","session":")" + b.session + R"(","seq":4})");
  settle();
  mgr->detach(talent);
  FakePeer again;
  hello_talent(again, "natasha");
  auto replayed = again.of_type("message");
  REQUIRE(replayed.size() == 1);
  CHECK(replayed[0]["seq"] == 5);
}

TEST_CASE_METHOD(Fixture, "a retried send id gets the same accepted and no second delivery", "[session]") {
  enrol("natasha");
  const auto b = book("natasha");
  FakePeer talent, client;
  hello_talent(talent, "natasha");
  hello_client(client, b.client_token);
  send(client, b.session, "same", "halo");
  settle();
  send(client, b.session, "same", "halo");
  settle();
  auto acc = client.of_type("accepted");
  REQUIRE(acc.size() == 2);
  CHECK(acc[0] == acc[1]);
  CHECK(talent.of_type("message").size() == 1);
}

TEST_CASE_METHOD(Fixture, "nobody writes outside their own live sessions", "[session]") {
  enrol("natasha");
  enrol("bella");
  const auto b = book("natasha");
  const auto other = book("bella", "+6281111111111");
  FakePeer bella, client;
  hello_talent(bella, "bella");
  hello_client(client, b.client_token);
  send(bella, b.session, "x", "hi");
  CHECK(bella.last()["code"] == "not_in_session");
  send(client, other.session, "x", "hi");
  CHECK(client.last()["code"] == "not_in_session");
  FakePeer stranger;
  mgr->attach(stranger);
  send(stranger, b.session, "x", "hi");
  CHECK(stranger.last()["code"] == "not_allowed");
  settle();
  CHECK(st->session(b.session)->message_count == 0);
}

TEST_CASE_METHOD(Fixture, "the quota's last message is accepted, the next refused, then the session closes",
                 "[session]") {
  enrol("natasha");
  const auto b = book("natasha", "+6281234567890", "chat-3");
  FakePeer client;
  hello_client(client, b.client_token);
  for (int i = 1; i <= 4; ++i) send(client, b.session, fmt::format("c{}", i), "x");
  settle();
  CHECK(client.of_type("accepted").size() == 3);
  auto errors = client.of_type("error");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0]["code"] == "quota_exhausted");
  CHECK(errors[0]["id"] == "c4");
  auto s = client.of_type("session");
  REQUIRE(s.size() == 1);
  CHECK(s[0]["reason"] == "quota_exhausted");
}

TEST_CASE_METHOD(Fixture, "on restart, sessions whose time ran out are torn down", "[session][timers]") {
  enrol("natasha");
  const auto expired = book("natasha", "+6281234567890");
  clock.advance(20min);
  const auto live = book("natasha", "+6281234567891");
  clock.advance(15min);  // the first is past its end, the second is not
  mgr = make_manager();
  mgr->load(st->talents(), st->live_sessions());
  settle();
  CHECK(st->session(expired.session)->state == proto::SessionState::closed);
  CHECK(st->session(live.session)->state == proto::SessionState::open);
  CHECK(mgr->live_sessions() == 1);
  FakePeer c1, c2;
  hello_client(c1, expired.client_token);
  CHECK(c1.last()["code"] == "auth_failed");
  hello_client(c2, live.client_token);
  CHECK(c2.of_type("welcome").size() == 1);
}

TEST_CASE_METHOD(Fixture, "removing a talent ends their sessions and their login", "[session]") {
  enrol("natasha");
  const auto b = book("natasha");
  FakePeer talent, client;
  hello_talent(talent, "natasha");
  hello_client(client, b.client_token);
  std::optional<AdminError> err{AdminError{}};
  mgr->remove_talent("natasha", [&](std::optional<AdminError> e) { err = e; });
  settle();
  CHECK_FALSE(err);
  CHECK(client.last()["reason"] == "talent_removed");
  CHECK(client.closed == CloseCode::normal);
  CHECK(talent.closed == CloseCode::policy);
  CHECK(st->talents().empty());
  CHECK_FALSE(st->session(b.session));
  FakePeer again;
  hello_talent(again, "natasha");
  CHECK(again.last()["code"] == "auth_failed");
}

TEST_CASE_METHOD(Fixture, "admin validation answers with codes", "[session][admin]") {
  enrol("natasha");
  std::optional<AdminError> err;
  mgr->add_talent("natasha", "another long secret", [&](auto e) { err = e; });
  settle();
  CHECK(err->code == "alias_taken");
  mgr->add_talent("Bad Alias", "another long secret", [&](auto e) { err = e; });
  CHECK(err->code == "invalid_alias");
  mgr->add_talent("bella", "short", [&](auto e) { err = e; });
  CHECK(err->code == "weak_secret");
  std::optional<AdminResult<Booking>> r;
  mgr->book({"natasha", "0812345678", "chat-30m"}, [&](auto v) { r = v; });
  CHECK(std::get<AdminError>(*r).code == "invalid_number");
  mgr->book({"nobody", "+6281234567890", "chat-30m"}, [&](auto v) { r = v; });
  CHECK(std::get<AdminError>(*r).code == "unknown_talent");
  mgr->book({"natasha", "+6281234567890", "gold"}, [&](auto v) { r = v; });
  CHECK(std::get<AdminError>(*r).code == "unknown_package");
  CHECK(mgr->end_by_operator("s_nope")->code == "unknown_session");
}
