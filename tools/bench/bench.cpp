// tirai-bench: the pair workload against tirai, nats-server or mosquitto.
// Progress goes to stderr, one result row to stdout (or JSON with --json).
// Benchmarks measure; they never decide whether CI passes.
#include "tools/bench/drivers.hpp"
#include "tools/bench/histogram.hpp"
#include "tools/bench/journal.hpp"
#include "tools/bench/phone.hpp"
#include "tools/bench/process_cpu.hpp"
#include "tools/bench/sms.hpp"
#include "tools/client.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <filesystem>
#include <future>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace tirai::bench;
using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;
constexpr auto ns = [](double secs) { return std::chrono::duration_cast<std::chrono::nanoseconds>(Seconds(secs)); };

namespace {

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

// Resident memory of `pid` in KiB.
double rss_kib(int pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6));
  return 0;
}

double self_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Numbers written with the letters a-p (base 16), so that no payload looks
// like a phone number to tirai's contact guard, which stays on as in production.
void put_letters(std::string& out, std::uint64_t v) {
  char buf[16];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('a' + (v & 15));
    v >>= 4;
  } while (v);
  while (n) out.push_back(buf[--n]);
}

// 64 bytes: "<sender>:<counter>:<send time ns>:" padded with 'x'.
std::string payload(std::size_t e, std::uint64_t counter, std::uint64_t t) {
  std::string p;
  p.reserve(64);
  put_letters(p, e);
  p.push_back(':');
  put_letters(p, counter);
  p.push_back(':');
  put_letters(p, t);
  p.push_back(':');
  p.resize(64, 'x');
  return p;
}

std::uint64_t payload_time(std::string_view p) {
  const auto a = p.find(':');
  const auto b = p.find(':', a + 1);
  const auto c = p.find(':', b + 1);
  if (a == std::string_view::npos || b == std::string_view::npos || c == std::string_view::npos) return 0;
  std::uint64_t t = 0;
  for (auto ch : p.substr(b + 1, c - b - 1)) t = (t << 4) | static_cast<std::uint64_t>(ch - 'a');
  return t;
}

struct Options {
  std::string target = "tirai";
  std::string workload = "throughput";
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::uint16_t admin_port = 8081;
  std::string token_file;
  std::size_t pairs = 100;
  double seconds = 5;
  double warmup = 1;
  std::size_t inflight = 16;
  double rate = 10000;
  double soak_rate = 50;       // soak: messages per second, all endpoints together
  double sample_seconds = 10;  // soak: sampling period
  std::size_t connections = 1000;
  std::size_t churn_workers = 4;
  std::size_t sessions_per_talent = 10;
  int server_pid = 0;
  bool json_out = false;
  bool smoke = false;
  std::string slow_windows;  // latency: where to write the slow 10 ms windows
  std::string package = "chat-30m";  // what the pairs' sessions are booked with
  Writes writes = Writes::gathered;
  std::string run_id = std::to_string(::getpid());
};

struct Result {
  json::object row;
  void print(const Options& o) const {
    if (o.json_out) {
      std::cout << json::serialize(row) << "\n";
      return;
    }
    std::string line;
    for (const auto& [k, v] : row)
      line += fmt::format("{}={} ", std::string(k), v.is_string() ? std::string(v.get_string()) : json::serialize(v));
    std::cout << line << "\n";
  }
};

std::unique_ptr<Driver> make_driver(asio::io_context& ioc, const Options& o) {
  if (o.target == "nats") return make_nats_driver(ioc, o.host, o.port ? o.port : 4222, o.writes);
  if (o.target == "mosquitto" || o.target == "mqtt")
    return make_mqtt_driver(ioc, o.host, o.port ? o.port : 1883, o.writes);
  TiraiOptions t;
  t.host = o.host;
  t.relay_port = o.port ? o.port : 8080;
  t.admin_port = o.admin_port;
  std::ifstream(o.token_file) >> t.admin_token;
  if (t.admin_token.empty()) throw std::runtime_error("--token-file must name tiraid's admin token");
  t.run_id = o.run_id;
  t.sessions_per_talent = o.sessions_per_talent;
  t.package = o.package;
  return make_tirai_driver(ioc, std::move(t), o.writes);
}

// Runs `body` inside the io_context until it finishes.
template <typename Body>
void run(asio::io_context& ioc, Body body) {
  std::exception_ptr failure;
  asio::co_spawn(ioc, body(), [&](std::exception_ptr e) {
    failure = e;
    ioc.stop();
  });
  ioc.run();
  ioc.restart();
  if (failure) std::rethrow_exception(failure);
}

// A run during which the server dropped connections measured a stall, not the
// server: say so instead of printing figures.
void require_no_lost(const Driver& d) {
  if (const auto n = d.lost_connections())
    throw std::runtime_error(fmt::format("{}: {} connection(s) lost during the run; no figures", d.name(), n));
}

Result throughput(const Options& o) {
  asio::io_context ioc(1);
  auto driver = make_driver(ioc, o);
  const std::size_t endpoints = 2 * o.pairs;
  std::vector<std::size_t> outstanding(endpoints, 0);
  std::uint64_t counter = 0, received = 0;
  bool running = true, measuring = false;
  auto send_one = [&](std::size_t e) {
    ++outstanding[e];
    driver->send(e, payload(e, ++counter, now_ns()));
  };
  driver->on_receive = [&](std::size_t e, std::string_view) {
    const std::size_t sender = e ^ 1;
    if (outstanding[sender]) --outstanding[sender];
    if (measuring) ++received;
    if (running) send_one(sender);
  };
  double cpu0 = 0, cpu1 = 0, self0 = 0, self1 = 0;
  Clock::time_point t0, t1;
  run(ioc, [&]() -> asio::awaitable<void> {
    std::cerr << fmt::format("[bench] {} throughput: connecting {} pairs\n", driver->name(), o.pairs);
    co_await driver->setup(o.pairs);
    for (std::size_t e = 0; e < endpoints; ++e)
      for (std::size_t k = 0; k < o.inflight; ++k) send_one(e);
    asio::steady_timer timer(ioc);
    timer.expires_after(ns(o.warmup));
    co_await timer.async_wait(asio::use_awaitable);
    measuring = true;
    t0 = Clock::now();
    cpu0 = process_cpu_seconds(o.server_pid);
    self0 = self_cpu_seconds();
    timer.expires_after(ns(o.seconds));
    co_await timer.async_wait(asio::use_awaitable);
    measuring = false;
    t1 = Clock::now();
    cpu1 = process_cpu_seconds(o.server_pid);
    self1 = self_cpu_seconds();
    running = false;
    driver->close();
  });
  require_no_lost(*driver);
  const double secs = std::chrono::duration<double>(t1 - t0).count();
  const double rate = static_cast<double>(received) / secs;
  Result r;
  r.row = {{"workload", "throughput"}, {"target", driver->name()}, {"pairs", o.pairs}, {"inflight", o.inflight},
           {"messages", received}, {"msgs_per_s", std::round(rate)},
           {"generator_cpu", std::round((self1 - self0) / secs * 100) / 100},
           {"writes", o.writes == Writes::gathered ? "gathered" : "one_per_message"}};
  if (o.server_pid)
    r.row["server_cpu_s_per_million"] = std::round((cpu1 - cpu0) / static_cast<double>(std::max<std::uint64_t>(received, 1)) * 1e6 * 100) / 100;
  return r;
}

Result latency(const Options& o) {
  asio::io_context ioc(1);
  auto driver = make_driver(ioc, o);
  const std::size_t endpoints = 2 * o.pairs;
  Histogram hist;
  // Per 10 ms of scheduled send time: the slowest message and how many took
  // over 1 ms. A tail made of a few long stalls, of periodic ones or of a
  // storm shows here (--slow-windows), where the histogram cannot tell them apart.
  constexpr std::uint64_t slice_ns = 10'000'000, slow_ns = 1'000'000;
  // `late_ns`: how late this generator itself sent the window's latest
  // message. A host that stops the generator's core for a few milliseconds
  // (this VM does, every few seconds, whichever server runs) shows there,
  // and in `sent_late`, the sends that left over 1 ms after their time.
  struct Slice {
    std::uint64_t max_ns = 0, slow = 0, late_ns = 0;
  };
  std::vector<Slice> slices(static_cast<std::size_t>(o.seconds * 1e9 / slice_ns) + 1);
  bool measuring = false;
  std::uint64_t window_start = 0, window_end = ~0ull, sent = 0, received = 0, sent_late = 0;
  auto slice_of = [&](std::uint64_t scheduled) -> Slice& {
    return slices[std::min<std::size_t>((scheduled - window_start) / slice_ns, slices.size() - 1)];
  };
  driver->on_receive = [&](std::size_t, std::string_view p) {
    const auto scheduled = payload_time(p);
    ++received;
    if (!measuring || scheduled < window_start || scheduled >= window_end) return;
    const auto took = now_ns() - scheduled;
    hist.record(took);
    auto& slice = slice_of(scheduled);
    slice.max_ns = std::max(slice.max_ns, took);
    slice.slow += took > slow_ns;
  };
  double self0 = 0, self1 = 0, cpu0 = 0, cpu1 = 0;
  std::uint64_t received_at_start = 0, received_at_end = 0;
  run(ioc, [&]() -> asio::awaitable<void> {
    std::cerr << fmt::format("[bench] {} latency: connecting {} pairs\n", driver->name(), o.pairs);
    co_await driver->setup(o.pairs);
    const double interval_ns = 1e9 / o.rate;
    const std::uint64_t start = now_ns();
    const auto total = static_cast<std::uint64_t>((o.warmup + o.seconds) * o.rate);
    window_start = start + static_cast<std::uint64_t>(o.warmup * 1e9);
    window_end = window_start + static_cast<std::uint64_t>(o.seconds * 1e9);
    measuring = true;
    self0 = self_cpu_seconds();
    // The server's CPU over the measured window (after the warm-up), per
    // message delivered in it.
    bool cpu_started = false, cpu_ended = false;
    asio::steady_timer timer(ioc);
    // Open loop: each message carries its *scheduled* send time, so a stall
    // in the relay (or here) shows as latency instead of fewer samples.
    for (std::uint64_t k = 0; k < total;) {
      const std::uint64_t now = now_ns();
      if (!cpu_started && now >= window_start) {
        cpu_started = true;
        cpu0 = process_cpu_seconds(o.server_pid);
        received_at_start = received;
      }
      if (!cpu_ended && now >= window_end) {
        cpu_ended = true;
        cpu1 = process_cpu_seconds(o.server_pid);
        received_at_end = received;
      }
      while (k < total) {
        const auto scheduled = start + static_cast<std::uint64_t>(static_cast<double>(k) * interval_ns);
        if (scheduled > now) break;
        driver->send(k % endpoints, payload(k % endpoints, k, scheduled));
        if (scheduled >= window_start && scheduled < window_end) {
          const auto late = now - scheduled;
          auto& slice = slice_of(scheduled);
          slice.late_ns = std::max(slice.late_ns, late);
          sent_late += late > slow_ns;
        }
        ++k;
        ++sent;
      }
      timer.expires_after(std::chrono::microseconds(100));
      co_await timer.async_wait(asio::use_awaitable);
    }
    self1 = self_cpu_seconds();
    if (!cpu_ended) {
      cpu1 = process_cpu_seconds(o.server_pid);
      received_at_end = received;
    }
    timer.expires_after(std::chrono::seconds(1));  // let the last messages arrive
    co_await timer.async_wait(asio::use_awaitable);
    driver->close();
  });
  require_no_lost(*driver);
  if (!o.slow_windows.empty()) {
    std::ofstream out(o.slow_windows);
    // The window's start on the monotonic clock, to set these against a
    // server's own traces (perf record -k CLOCK_MONOTONIC, its logs).
    out << fmt::format("# window_start_monotonic_ns={}\n", window_start);
    out << "# seconds_into_window max_ms messages_over_1ms generator_late_ms\n";
    for (std::size_t i = 0; i < slices.size(); ++i)
      if (slices[i].max_ns > slow_ns)
        out << fmt::format("{:.2f} {:.2f} {} {:.2f}\n", static_cast<double>(i * slice_ns) / 1e9,
                           static_cast<double>(slices[i].max_ns) / 1e6, slices[i].slow,
                           static_cast<double>(slices[i].late_ns) / 1e6);
    if (!out) throw std::runtime_error("cannot write " + o.slow_windows);
  }
  auto us = [](std::uint64_t ns) { return std::round(static_cast<double>(ns) / 100.0) / 10.0; };
  Result r;
  r.row = {{"workload", "latency"},      {"target", driver->name()},          {"pairs", o.pairs},
           {"rate", o.rate},             {"samples", hist.count()},           {"lost", sent - received},
           {"p50_us", us(hist.quantile(0.5))}, {"p99_us", us(hist.quantile(0.99))}, {"p999_us", us(hist.quantile(0.999))},
           {"max_us", us(hist.max())},   {"sent_late", sent_late},            {"generator_cpu", std::round((self1 - self0) / (o.warmup + o.seconds) * 100) / 100},
           {"writes", o.writes == Writes::gathered ? "gathered" : "one_per_message"}};
  if (o.server_pid) {
    const auto delivered = std::max<std::uint64_t>(received_at_end - received_at_start, 1);
    r.row["server_cpu_us_per_message"] = std::round((cpu1 - cpu0) / static_cast<double>(delivered) * 1e6 * 100) / 100;
  }
  return r;
}

Result idle(const Options& o) {
  asio::io_context ioc(1);
  auto driver = make_driver(ioc, o);
  // As many pairs as fit in the requested number of connections.
  std::size_t pairs = std::max<std::size_t>(1, o.connections / 2);
  while (driver->connections(pairs + 1) <= o.connections) ++pairs;
  const std::size_t conns = driver->connections(pairs);
  double before = 0, after = 0;
  run(ioc, [&]() -> asio::awaitable<void> {
    before = o.server_pid ? rss_kib(o.server_pid) : 0;
    std::cerr << fmt::format("[bench] {} idle: opening {} connections\n", driver->name(), conns);
    co_await driver->setup(pairs);
    asio::steady_timer timer(ioc);
    timer.expires_after(std::chrono::seconds(1));  // let allocations settle
    co_await timer.async_wait(asio::use_awaitable);
    after = o.server_pid ? rss_kib(o.server_pid) : 0;
    driver->close();
  });
  require_no_lost(*driver);
  Result r;
  r.row = {{"workload", "idle"}, {"target", driver->name()}, {"connections", conns},
           {"server_rss_kib_before", before}, {"server_rss_kib_after", after},
           {"kib_per_connection", std::round((after - before) / static_cast<double>(conns) * 100) / 100}};
  return r;
}

// One session's life: book, the client joins, first message, both ends
// (the second closes at once, during the grace). `talent` is logged in.
void churn_once(const tirai::client::AdminClient& admin, tirai::client::WsClient& talent, const std::string& alias,
                const std::string& client_number, const std::string& host, std::uint16_t relay) {
  auto r = admin.request("POST", "/v1/sessions",
                         json::serialize(json::object{{"talent", alias}, {"client", client_number}, {"package", "chat-30m"}}));
  if (r.status != 201) throw std::runtime_error("book: " + r.body);
  auto b = json::parse(r.body).as_object();
  const std::string session(b.at("session").as_string());
  talent.receive();  // the session frame
  tirai::client::WsClient client(host, relay);
  client.send(json::serialize(json::object{{"type", "hello"}, {"role", "client"}, {"token", b.at("client_token")}}));
  client.receive();
  client.send(json::serialize(json::object{{"type", "send"}, {"session", session}, {"id", "1"}, {"text", "halo"}}));
  client.receive();  // accepted
  talent.receive();  // the message
  const auto end = fmt::format(R"({{"type":"end","session":"{}"}})", session);
  client.send(end);
  client.send(end);  // during grace: closes at once
  client.wait_closed();
  talent.receive();  // closing
  talent.receive();  // closed
}

// Book, join both sides, first message, end: tirai only (the peers have no
// sessions). Workers run blocking clients in threads of their own.
Result churn(const Options& o) {
  if (o.target != "tirai") {
    Result r;
    r.row = {{"workload", "churn"}, {"target", o.target}, {"note", "no sessions to book"}};
    return r;
  }
  std::string token;
  std::ifstream(o.token_file) >> token;
  const std::uint16_t relay = o.port ? o.port : 8080;
  tirai::client::AdminClient admin(o.host, o.admin_port, token, std::chrono::seconds(30));
  const std::string secret = "bench-secret-" + o.run_id;
  for (std::size_t w = 0; w < o.churn_workers; ++w) {
    auto r = admin.request("POST", "/v1/talents",
                           json::serialize(json::object{{"alias", fmt::format("c{}-{}", o.run_id, w)}, {"secret", secret}}));
    if (r.status != 201) throw std::runtime_error("enrol: " + r.body);
  }
  std::atomic<bool> stop{false}, measuring{false};
  std::vector<Histogram> hists(o.churn_workers);
  std::vector<std::uint64_t> done(o.churn_workers, 0);
  std::vector<std::thread> threads;
  std::vector<std::string> errors(o.churn_workers);
  // The talents log in one after another: the relay checks one secret at a
  // time per address (the rest are refused as busy), and logins are not
  // what churn measures.
  std::mutex logging_in;
  for (std::size_t w = 0; w < o.churn_workers; ++w) {
    threads.emplace_back([&, w] {
      try {
        const auto alias = fmt::format("c{}-{}", o.run_id, w);
        tirai::client::WsClient talent(o.host, relay);
        {
          std::lock_guard lock(logging_in);
          talent.send(json::serialize(json::object{{"type", "hello"}, {"role", "talent"}, {"alias", alias}, {"secret", secret}}));
          talent.receive();
        }
        for (std::uint64_t i = 0; !stop; ++i) {
          const auto start = now_ns();
          churn_once(admin, talent, alias, fmt::format("+628{}{:07}", w + 1, i % 10'000'000), o.host, relay);
          if (measuring) {
            hists[w].record(now_ns() - start);
            ++done[w];
          }
        }
      } catch (const std::exception& e) {
        errors[w] = e.what();
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup));  // a benchmark's warm-up, not a test
  measuring = true;
  const double cpu0 = process_cpu_seconds(o.server_pid);
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  measuring = false;
  const auto t1 = Clock::now();
  const double cpu1 = process_cpu_seconds(o.server_pid);
  stop = true;
  for (auto& t : threads) t.join();
  for (const auto& e : errors)
    if (!e.empty()) throw std::runtime_error("churn worker: " + e);
  Histogram all;
  std::uint64_t total = 0;
  for (std::size_t w = 0; w < o.churn_workers; ++w) {
    all.merge(hists[w]);
    total += done[w];
  }
  const double secs = std::chrono::duration<double>(t1 - t0).count();
  Result r;
  r.row = {{"workload", "churn"},
           {"target", "tirai"},
           {"workers", o.churn_workers},
           {"churns", total},
           {"churns_per_s", std::round(static_cast<double>(total) / secs * 10) / 10},
           {"p50_ms", std::round(static_cast<double>(all.quantile(0.5)) / 1e4) / 100},
           {"p99_ms", std::round(static_cast<double>(all.quantile(0.99)) / 1e4) / 100}};
  if (o.server_pid) r.row["server_cpu_ms_per_churn"] = std::round((cpu1 - cpu0) / static_cast<double>(std::max<std::uint64_t>(total, 1)) * 1e5) / 100;
  return r;
}

// The open descriptors of `pid`, and the size of its SQLite WAL (the open
// file whose name ends "-wal"; 0 when it has none open).
std::pair<std::size_t, std::uintmax_t> fds_and_wal(int pid) {
  std::size_t fds = 0;
  std::uintmax_t wal = 0;
  std::error_code ec;
  for (const auto& fd : std::filesystem::directory_iterator(fmt::format("/proc/{}/fd", pid), ec)) {
    ++fds;
    const auto target = std::filesystem::read_symlink(fd.path(), ec);
    if (!ec && target.string().ends_with("-wal")) wal = std::filesystem::file_size(target, ec);
  }
  return {fds, wal};
}

// Many connections, a trickle of messages, session churn, for --seconds;
// the server's resident memory, open files and WAL sampled every
// --sample-seconds. Flat when the last third of the samples is no higher
// than the middle third (the first is warm-up) beyond a small allowance.
Result soak(const Options& o) {
  if (o.target != "tirai" || o.server_pid <= 0) throw std::runtime_error("soak: needs --target tirai and --server-pid");
  asio::io_context ioc(1);
  auto driver = make_driver(ioc, o);
  std::size_t pairs = std::max<std::size_t>(1, o.connections / 2);
  while (driver->connections(pairs + 1) <= o.connections) ++pairs;
  const std::size_t conns = driver->connections(pairs);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> sent{0}, received{0}, churns{0};
  std::promise<void> ready;
  auto connected = ready.get_future();
  driver->on_receive = [&](std::size_t, std::string_view) { ++received; };
  std::exception_ptr load_failure;
  std::thread load([&] {
    try {
      run(ioc, [&]() -> asio::awaitable<void> {
        std::cerr << fmt::format("[bench] soak: opening {} connections\n", conns);
        co_await driver->setup(pairs);
        ready.set_value();
        asio::steady_timer timer(ioc);
        const auto gap = ns(1.0 / std::max(o.soak_rate, 0.1));
        for (std::uint64_t k = 0; !stop; ++k) {
          const std::size_t e = (k * 7919) % (2 * pairs);
          driver->send(e, payload(e, k, now_ns()));
          ++sent;
          timer.expires_after(gap);
          co_await timer.async_wait(asio::use_awaitable);
        }
        driver->close();
      });
    } catch (...) {
      load_failure = std::current_exception();
      try {
        ready.set_value();
      } catch (...) {
      }
    }
  });
  connected.wait();
  if (load_failure) {
    load.join();
    std::rethrow_exception(load_failure);
  }
  // One session's whole life after another, ten a second at most.
  std::string token;
  std::ifstream(o.token_file) >> token;
  const std::uint16_t relay = o.port ? o.port : 8080;
  const tirai::client::AdminClient admin(o.host, o.admin_port, token, std::chrono::seconds(30));
  const std::string alias = "soak" + o.run_id, secret = "bench-secret-" + o.run_id;
  std::string churn_error;
  std::thread churner([&] {
    try {
      auto r = admin.request("POST", "/v1/talents", json::serialize(json::object{{"alias", alias}, {"secret", secret}}));
      if (r.status != 201) throw std::runtime_error("enrol: " + r.body);
      tirai::client::WsClient talent(o.host, relay);
      talent.send(json::serialize(json::object{{"type", "hello"}, {"role", "talent"}, {"alias", alias}, {"secret", secret}}));
      talent.receive();
      for (std::uint64_t i = 0; !stop; ++i) {
        const auto next = Clock::now() + std::chrono::milliseconds(100);
        churn_once(admin, talent, alias, fmt::format("+62877{:07}", i % 10'000'000), o.host, relay);
        ++churns;
        std::this_thread::sleep_until(next);  // the churn's pace
      }
    } catch (const std::exception& e) {
      churn_error = e.what();
    }
  });
  json::array samples;
  std::vector<double> rss, fds, wal;
  const auto start = Clock::now();
  const auto every = ns(std::max(o.sample_seconds, 0.1));
  for (auto at = start; at - start <= ns(o.seconds); at += every) {
    std::this_thread::sleep_until(at);  // the sampling period
    const auto [f, w] = fds_and_wal(o.server_pid);
    rss.push_back(rss_kib(o.server_pid));
    fds.push_back(static_cast<double>(f));
    wal.push_back(static_cast<double>(w));
    const auto whole = [](double v) { return static_cast<std::int64_t>(std::llround(v)); };
    samples.push_back(json::object{{"t", whole(std::chrono::duration<double>(Clock::now() - start).count())},
                                   {"rss_kib", whole(rss.back())},
                                   {"fds", f},
                                   {"wal_bytes", w},
                                   {"messages", received.load()},
                                   {"churns", churns.load()}});
    std::cerr << fmt::format("[bench] soak: {}\n", json::serialize(samples.back()));
  }
  stop = true;
  churner.join();
  load.join();
  if (load_failure) std::rethrow_exception(load_failure);
  if (!churn_error.empty()) throw std::runtime_error("soak churn: " + churn_error);
  require_no_lost(*driver);
  // Middle third against last third.
  const auto third = std::max<std::size_t>(1, rss.size() / 3);
  const auto mean = [](const std::vector<double>& v, std::size_t from, std::size_t to) {
    double sum = 0;
    for (std::size_t i = from; i < to; ++i) sum += v[i];
    return sum / static_cast<double>(std::max<std::size_t>(to - from, 1));
  };
  const auto growth = [&](const std::vector<double>& v) {
    return mean(v, v.size() - third, v.size()) - mean(v, v.size() - 2 * std::min(third, v.size() / 2), v.size() - third);
  };
  const double rss_growth = growth(rss), fds_growth = growth(fds), wal_growth = growth(wal);
  const double rss_allowed = std::max(4096.0, 0.05 * mean(rss, 0, rss.size()));
  const double wal_allowed = std::max(16.0 * 1024 * 1024, 0.5 * mean(wal, 0, wal.size()));
  const bool flat = rss_growth <= rss_allowed && fds_growth <= 8 && wal_growth <= wal_allowed;
  Result r;
  r.row = {{"workload", "soak"},
           {"target", "tirai"},
           {"connections", conns},
           {"seconds", std::llround(o.seconds)},
           {"messages_sent", sent.load()},
           {"messages_received", received.load()},
           {"churns", churns.load()},
           {"rss_growth_kib", std::llround(rss_growth)},
           {"rss_allowed_kib", std::llround(rss_allowed)},
           {"fds_growth", std::llround(fds_growth)},
           {"wal_growth_bytes", std::llround(wal_growth)},
           {"flat", flat},
           {"samples", std::move(samples)}};
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"tirai-bench: the pair workload against tirai, nats-server or mosquitto"};
  app.add_option("--target", o.target, "tirai, nats or mosquitto")->check(CLI::IsMember({"tirai", "nats", "mosquitto", "mqtt"}));
  app.add_option("--workload", o.workload,
                 "throughput, latency, idle, churn, sms (starts its own tiraid and Kannel), or phone (its own tiraid, "
                 "Kamailio and rtpengine, SIPp as the phones), phone-load (concurrent calls with media through them), "
                 "journal (load that journals every promise, for tools/crash-trials.sh; --verify checks them), "
                 "or soak (--connections, a trickle of messages and session churn for --seconds; exit 1 unless the "
                 "server's memory, open files and WAL stay flat)")
      ->check(CLI::IsMember({"throughput", "latency", "idle", "churn", "sms", "phone", "phone-load", "journal", "soak"}));
  app.add_option("--soak-rate", o.soak_rate, "soak: messages per second, all endpoints together");
  app.add_option("--package", o.package,
                 "tirai: the package the pairs' sessions are booked with (soak: chat-call-60m unless given; a "
                 "session that ends mid-run is a lost connection)");
  app.add_option("--sample-seconds", o.sample_seconds, "soak: how often the server's memory, files and WAL are sampled");
  JournalOptions journal;
  bool verify = false;
  app.add_option("--journal-dir", journal.dir, "journal: where the sessions and the journal are kept across runs");
  app.add_option("--run", journal.run, "journal: this run's name, in its message ids");
  app.add_flag("--verify", verify, "journal: drain every endpoint and check the whole journal (exit 1 if a promise broke)");
  SmsOptions sms;
  // The build's tiraid beside this build's tirai-bench; the package's when installed.
  sms.tiraid = std::filesystem::exists(TIRAID_DEFAULT_PATH) ? TIRAID_DEFAULT_PATH : "/usr/sbin/tiraid";
  app.add_option("--tiraid", sms.tiraid, "sms, phone, phone-load: the tiraid to start");
  std::filesystem::path source_dir = TIRAI_SOURCE_DIR;
  app.add_option("--source-dir", source_dir,
                 "phone, phone-load: a tirai source tree (tools/voice-stack.sh, tests/data/sipp/)");
  app.add_option("--sms-sessions", sms.sessions, "sms: booked SMS sessions");
  app.add_option("--sms-messages", sms.messages, "sms: SMS per throughput direction");
  app.add_option("--sms-samples", sms.samples, "sms: sequential SMS per latency direction");
  PhoneOptions phone;
  app.add_option("--phone-calls", phone.calls, "phone: sequential calls for the post-dial delay");
  app.add_option("--phone-decisions", phone.decisions, "phone: seam requests per kind");
  app.add_option("--phone-levels", phone.levels, "phone-load: concurrent calls, level after level")->delimiter(',');
  app.add_option("--phone-seconds", phone.load_seconds, "phone-load: seconds of media per level");
  app.add_option("--host", o.host, "server address");
  app.add_option("--port", o.port, "server port (tirai relay 8080, nats 4222, mosquitto 1883)");
  app.add_option("--admin-port", o.admin_port, "tirai admin port");
  app.add_option("--token-file", o.token_file, "tirai admin token file");
  app.add_option("--pairs", o.pairs, "booked sessions (pairs of endpoints)");
  app.add_option("--seconds", o.seconds, "measured seconds");
  app.add_option("--warmup", o.warmup, "seconds before measuring");
  app.add_option("--inflight", o.inflight, "throughput: messages in flight per endpoint");
  app.add_option("--rate", o.rate, "latency: offered messages per second, all endpoints together");
  std::string writes = "gathered";
  app.add_option("--writes", writes,
                 "how endpoints write: gathered (what queued during a write leaves in the next one) or "
                 "one-per-message (a write, and a segment, per frame, as people's clients send)")
      ->check(CLI::IsMember({"gathered", "one-per-message"}));
  app.add_option("--slow-windows", o.slow_windows,
                 "latency: write each 10 ms of the run whose slowest message took over 1 ms to this file");
  app.add_option("--connections", o.connections, "idle: connections to open");
  app.add_option("--workers", o.churn_workers, "churn: concurrent bookings");
  app.add_option("--sessions-per-talent", o.sessions_per_talent, "tirai: sessions booked per enrolled talent");
  app.add_option("--server-pid", o.server_pid, "server process, for CPU and memory figures");
  app.add_flag("--json", o.json_out, "one JSON object per result");
  app.add_flag("--smoke", o.smoke, "a few hundred messages, to check the tool works");
  CLI11_PARSE(app, argc, argv);
  o.writes = writes == "gathered" ? Writes::gathered : Writes::one_per_message;
  if (o.smoke) {
    o.pairs = std::min<std::size_t>(o.pairs, 4);
    o.seconds = 0.3;
    o.warmup = 0.1;
    o.rate = std::min(o.rate, 1000.0);
    o.connections = std::min<std::size_t>(o.connections, 20);
    o.churn_workers = 1;
    sms.sessions = 3;
    sms.messages = 30;
    sms.samples = 5;
    phone.calls = 3;
    phone.decisions = 50;
    phone.levels = {2, 4};
    phone.load_seconds = 1;
  }
  phone.tiraid = sms.tiraid;
  phone.voice_stack = (source_dir / "tools" / "voice-stack.sh").string();
  phone.scenarios = (source_dir / "tests" / "data" / "sipp").string();
  if ((o.workload == "phone" || o.workload == "phone-load") && !std::filesystem::exists(phone.voice_stack)) {
    std::cerr << "tirai-bench: the phone workloads need a tirai source tree (--source-dir): no " << phone.voice_stack
              << "\n";
    return 2;
  }
  try {
    Result r;
    if (o.workload == "throughput") r = throughput(o);
    else if (o.workload == "latency") r = latency(o);
    else if (o.workload == "idle") r = idle(o);
    else if (o.workload == "sms") r.row = sms_gateway(sms);
    else if (o.workload == "phone") r.row = phone_calls(phone);
    else if (o.workload == "phone-load") r.row = phone_load(phone);
    else if (o.workload == "soak") {
      // The default chat-30m would end every session before a half-hour soak does.
      if (app.count("--package") == 0) {
        o.package = "chat-call-60m";
        if (o.seconds > 50 * 60)
          throw std::runtime_error("soak: chat-call-60m sessions last an hour: --seconds at most 3000, or a --package of yours");
      }
      r = soak(o);
      if (!r.row.at("flat").as_bool()) {
        r.print(o);
        std::cerr << "tirai-bench: soak: the server's memory, files or WAL grew\n";
        return 1;
      }
    } else if (o.workload == "journal") {
      journal.host = o.host;
      journal.relay_port = o.port ? o.port : 8080;
      journal.admin_port = o.admin_port;
      std::ifstream(o.token_file) >> journal.admin_token;
      journal.pairs = o.pairs;
      journal.seconds = o.seconds;
      if (journal.dir.empty()) throw std::runtime_error("the journal workload needs --journal-dir");
      r.row = verify ? journal_verify(journal) : journal_load(journal);
      if (verify && !r.row.at("ok").as_bool()) {
        r.print(o);
        return 1;
      }
    }
    else r = churn(o);
    r.print(o);
  } catch (const std::exception& e) {
    std::cerr << "tirai-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
