#pragma once
// The unit fixture of the relay: the real Relay, store and capabilities on a
// temporary database, with a store runner, a worker and peers that the test
// drives step by step, and a fake clock.
#include "crypto/random.hpp"
#include "relay/relay.hpp"
#include "support/keys.hpp"
#include "support/temp_dir.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <deque>

namespace tirai::test {

using namespace tirai::relay;
namespace json = boost::json;
using namespace std::chrono_literals;

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
  std::size_t size() const { return queue_.size(); }
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
  void deliver(std::string_view frame) override {
    if (!closed) frames.emplace_back(frame);
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
  crypto::Keyring keys = test::random_keyring();
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
  std::unique_ptr<Relay> mgr = make_manager();

  std::unique_ptr<Relay> make_manager() {
    return std::make_unique<Relay>(config, store, worker, keys, clock, metrics, cheap);
  }

  void settle() {
    while (store.run_group() || worker.run_one()) {
    }
  }

  void enrol(const std::string& alias, const std::string& secret = "correct horse battery") {
    std::optional<BookingError> err{BookingError{}};
    mgr->bookings().add_talent(alias, secret, [&](std::optional<BookingError> e) { err = e; });
    settle();
    REQUIRE_FALSE(err);
  }

  Booking book(const std::string& talent, const std::string& number = "+6281234567890",
               const std::string& package = "chat-30m") {
    std::optional<BookResult> result;
    mgr->bookings().book({talent, number, package, std::nullopt}, [&](BookResult r) { result = std::move(r); });
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
    mgr->core().tick();
    settle();
  }
};


}  // namespace tirai::test
