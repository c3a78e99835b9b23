// Fuzz target: the admin listener (design §6) as a peer on its port sees
// it: whatever bytes arrive on one connection go through the real HTTP
// front (heads, bodies, keep-alive, the bearer token, routing) into the
// real admin API, bookings and ratings on a real store, with the operator
// page's files beside them. Each input is one connection over loopback.
// Invariants: every answer is a well-formed HTTP response; nothing the
// caller sends gets 500 (bad input is the caller's error, with a code);
// every JSON answer is JSON, and every error names its code.
#include "crypto/keyring.hpp"
#include "fuzz_check.hpp"
#include "relay/admin/admin_api.hpp"
#include "relay/http/server.hpp"
#include "relay/relay.hpp"
#include "relay/web/pages.hpp"
#include "store/database.hpp"
#include "store/store.hpp"

#include <boost/asio.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using asio::ip::tcp;
using namespace tirai;
using namespace tirai::relay;

// Store jobs run at once, each in its own transaction, their answers posted
// to the loop as the store thread's would be: one thread, so that an input
// replays the same way every time.
class InlineStore final : public StoreRunner {
 public:
  InlineStore(store::Store& st, asio::io_context& ioc) : st_(st), ioc_(ioc) {}
  void submit(Job job, Done done) override {
    std::exception_ptr error;
    try {
      store::Transaction tx(st_.db());
      job(st_);
      tx.commit();
    } catch (...) {
      error = std::current_exception();
    }
    if (done) asio::post(ioc_, [done = std::move(done), error] { done(error); });
  }

 private:
  store::Store& st_;
  asio::io_context& ioc_;
};

class InlineWorker final : public Worker {
 public:
  explicit InlineWorker(asio::io_context& ioc) : ioc_(ioc) {}
  void run(std::function<void()> work, std::function<void()> done) override {
    work();
    asio::post(ioc_, std::move(done));
  }

 private:
  asio::io_context& ioc_;
};

// The token the seeds carry ("Authorization: Bearer fuzz-admin-token-0123456789").
constexpr std::string_view admin_token = "fuzz-admin-token-0123456789";

struct World {
  std::filesystem::path dir;
  asio::io_context ioc{1};
  crypto::Keyring keys;
  store::Store st;
  InlineStore runner{st, ioc};
  InlineWorker worker{ioc};
  SystemClock clock;
  Metrics metrics;
  Config config;
  Relay relay;
  AdminContext admin;
  tcp::acceptor acceptor{ioc};

  explicit World(std::filesystem::path d)
      : dir(std::move(d)),
        keys(crypto::Keyring::load_or_create(dir / "master.key")),
        st(dir / "tirai.db", store::Synchronous::normal, keys),
        config(parse_config("", dir)),
        // Argon2id at its least cost: a hello-less admin still adds talents.
        relay(config, runner, worker, keys, clock, metrics, crypto::PasswordCost{1, 8192}),
        admin{relay.bookings(), relay.ratings(), runner, metrics, std::string(admin_token), nullptr,
              "http://127.0.0.1:8080", {}, nullptr} {
    admin.equal_answer_time = std::chrono::milliseconds(0);
    admin.site = std::make_shared<const web::Site>(web::Site::embedded("admin", ""));
    relay.load(st.talents(), st.live_sessions());
    acceptor.open(tcp::v4());
    acceptor.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor.listen();
    asio::co_spawn(ioc, run_admin_listener(acceptor, admin), asio::detached);
  }
};

World* world = nullptr;

// The methods of the requests in `bytes`, as far as they parse: an answer to
// a HEAD has a length but no body.
std::vector<http::verb> methods_of(std::string_view bytes) {
  std::vector<http::verb> out;
  while (!bytes.empty()) {
    http::request_parser<http::string_body> parser;
    parser.eager(true);
    parser.body_limit(64u << 20);
    beast::error_code ec;
    const auto used = parser.put(asio::buffer(bytes.data(), bytes.size()), ec);
    if (!parser.is_header_done()) {
      // A head refused part-way (a Content-Length past every limit, say) is
      // still answered, and by then its request line said whether it was a
      // HEAD; one cut short by the end of the input is not answered.
      if (ec && ec != http::error::need_more && parser.get().method() != http::verb::unknown)
        out.push_back(parser.get().method());
      break;
    }
    out.push_back(parser.get().method());
    if (ec || !parser.is_done()) break;
    bytes.remove_prefix(used);
  }
  return out;
}

void check_responses(std::string_view bytes, const std::vector<http::verb>& methods) {
  for (std::size_t i = 0; !bytes.empty(); ++i) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    parser.eager(true);
    parser.skip(i < methods.size() && methods[i] == http::verb::head);
    beast::error_code ec;
    const auto used = parser.put(asio::buffer(bytes.data(), bytes.size()), ec);
    FUZZ_CHECK(!ec);
    // Every answer has a length: none ends with the connection.
    FUZZ_CHECK(parser.is_done());
    bytes.remove_prefix(used);
    const auto& res = parser.get();
    FUZZ_CHECK(res.result_int() != 500);
    if (res[http::field::content_type] == "application/json" && !res.body().empty()) {
      boost::system::error_code jec;
      const auto v = json::parse(res.body(), jec);
      FUZZ_CHECK(!jec && v.is_object());
      if (res.result_int() >= 400) FUZZ_CHECK(v.as_object().contains("error"));
    }
  }
}

// One connection: the input written whole, the write side shut, then
// everything the listener answers until it closes. GCC 12 at -O2 takes
// Asio's frame allocator for a mismatched delete here (and only here).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
asio::awaitable<void> exchange(World& w, const std::uint8_t* data, std::size_t size, std::string& received) {
  tcp::socket s(w.ioc);
  co_await s.async_connect(w.acceptor.local_endpoint(), asio::use_awaitable);
  co_await asio::async_write(s, asio::buffer(data, size), asio::use_awaitable);
  s.shutdown(tcp::socket::shutdown_send);
  for (;;) {
    char buf[4096];
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
    received.append(buf, n);
    if (ec) break;
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Each input's log lines would cost more than the input itself.
  spdlog::set_level(spdlog::level::off);
  char templ[] = "/tmp/tirai-fuzz-admin-XXXXXX";
  if (!::mkdtemp(templ)) std::abort();
  world = new World(templ);
  // Gone with the process (libFuzzer ends with exit()): the folder's files.
  static const std::filesystem::path dir = templ;
  std::atexit([] { std::filesystem::remove_all(dir); });
  return 0;
}

// A named function, not a lambda, holds the coroutine: GCC 12 gives a lambda
// inside an extern "C" function a symbol it then defines twice.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& w = *world;
  std::string received;
  bool done = false;
  asio::co_spawn(w.ioc, exchange(w, data, size, received), [&](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
    done = true;
  });
  while (!done) w.ioc.run_one();
  if (std::getenv("TIRAI_FUZZ_SHOW")) std::fprintf(stderr, "--- answered:\n%s\n---\n", received.c_str());
  check_responses(received, methods_of({reinterpret_cast<const char*>(data), size}));
  return 0;
}
