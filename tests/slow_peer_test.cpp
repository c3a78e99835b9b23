#include "relay/http/corked_stream.hpp"
#include "relay/http/slow_peer.hpp"

#include <boost/asio.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

using namespace tirai::relay;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using std::chrono::steady_clock;

TEST_CASE("slow peer: the rule on its own", "[relay]") {
  using namespace std::chrono_literals;
  const std::size_t max_frames = 1024;
  // A burst: many frames, but the socket takes them (no write under way, or a short one).
  CHECK_FALSE(too_slow({5000, slow_bytes * 2, std::nullopt}, max_frames));
  CHECK_FALSE(too_slow({5000, 100'000, 1500ms}, max_frames));
  // Few frames waiting is never slow, however long the write.
  CHECK_FALSE(too_slow({max_frames - 1, slow_bytes * 2, 60s}, max_frames));
  // The 2 s path, and the 100 ms path with 4 MiB waiting.
  CHECK(too_slow({max_frames, 100'000, 2s}, max_frames));
  CHECK_FALSE(too_slow({max_frames, slow_bytes - 1, 1999ms}, max_frames));
  CHECK(too_slow({max_frames, slow_bytes, 100ms}, max_frames));
  CHECK_FALSE(too_slow({max_frames, slow_bytes, 99ms}, max_frames));
}

TEST_CASE("slow peer: a socket that stops reading is slow after 2 s, or 100 ms with 4 MiB waiting", "[relay]") {
  using namespace std::chrono_literals;
  asio::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  CorkedStream<tcp::socket> cork(ioc);
  cork.next_layer().connect(acceptor.local_endpoint());
  // The relay's plain connections are in non-blocking mode (they read
  // what a wait found ready): the writer works the same in either.
  const bool non_blocking = GENERATE(false, true);
  INFO("non-blocking " << non_blocking);
  cork.next_layer().non_blocking(non_blocking);
  tcp::socket peer = acceptor.accept();  // reads nothing until the end
  const std::size_t max_frames = 1024;
  auto outbound = [&](steady_clock::time_point now) {
    return Outbound{cork.writes_waiting(), cork.buffered(), cork.writing_for(now)};
  };
  CHECK_FALSE(cork.writing_for(steady_clock::now()));

  // 32 MiB the socket cannot take (more than both ends' buffers hold): a
  // write is under way after the turn, and stays.
  const std::size_t big = 32 << 20;
  const auto before = steady_clock::now();
  cork.write_now(std::string(big, 'a'), "");
  ioc.poll();
  const auto after = steady_clock::now();
  REQUIRE(cork.writing_for(after));
  // Then 1,100 small frames queue behind it (100 KB, under 4 MiB).
  const std::string frame(100, 'b');
  for (int i = 0; i < 1100; ++i) cork.write_now(frame, "");
  ioc.poll();
  REQUIRE(cork.writes_waiting() == 1100);
  // Had less than 4 MiB been waiting (say the frames' 110 KB alone), the
  // write would have to be under way for 2 s...
  CHECK_FALSE(too_slow(Outbound{cork.writes_waiting(), 110'000, cork.writing_for(before + 1900ms)}, max_frames));
  CHECK(too_slow(Outbound{cork.writes_waiting(), 110'000, cork.writing_for(after + 2s)}, max_frames));
  // ... and with all of it waiting (over 4 MiB), 100 ms is enough.
  REQUIRE(cork.buffered() >= slow_bytes);
  CHECK_FALSE(too_slow(outbound(before + 99ms), max_frames));
  CHECK(too_slow(outbound(after + 100ms), max_frames));

  // Once the peer reads everything, nothing is under way: not slow, whenever.
  std::vector<char> buf(1 << 16);
  std::size_t got = 0;
  const std::size_t expected = big + 1100 * frame.size();
  std::size_t out_of_order = 0;  // bytes not where they were written
  std::function<void()> read = [&] {
    peer.async_read_some(asio::buffer(buf), [&](boost::system::error_code ec, std::size_t n) {
      for (std::size_t i = 0; i < n; ++i) out_of_order += buf[i] != (got + i < big ? 'a' : 'b');
      got += n;
      if (!ec && got < expected) read();
    });
  };
  read();
  while (got < expected && ioc.run_one() > 0) {
  }
  REQUIRE(got == expected);
  CHECK(out_of_order == 0);
  ioc.poll();  // the write's completion
  CHECK_FALSE(cork.writing_for(steady_clock::now() + 10s));
  CHECK_FALSE(too_slow(outbound(steady_clock::now() + 10s), max_frames));
}
