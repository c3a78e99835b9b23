#pragma once
// How an accept loop meets a failed accept. Included only by server.hpp.
#include "relay/use_tuple.hpp"

#include <boost/asio.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <string>

namespace tirai::relay {

// Out of file descriptors (or kernel memory) lasts until connections close,
// and the listening socket stays readable all the while: a loop that simply
// tried again would spin on a core. So the loop waits a moment before it
// tries again, and says so once per episode, not once per attempt.
class AcceptPause {
 public:
  static constexpr std::chrono::milliseconds wait{50};

  AcceptPause(boost::asio::any_io_executor ex, std::string tag) : timer_(std::move(ex)), tag_(std::move(tag)) {}

  // After a failed accept: waits when the cause is a shortage; other causes
  // (a connection reset before it was accepted) are the peer's and go by.
  boost::asio::awaitable<void> failed(const boost::system::error_code& ec) {
    namespace errc = boost::system::errc;
    const bool shortage = ec == boost::asio::error::no_descriptors || ec == errc::too_many_files_open_in_system ||
                          ec == boost::asio::error::no_buffer_space || ec == boost::asio::error::no_memory;
    if (!shortage) {
      spdlog::debug("[{}] accept failed: {}", tag_, ec.message());
      co_return;
    }
    if (failures_++ == 0)
      spdlog::error("[{}] cannot accept connections ({}): trying again every {} ms until connections close; "
                    "raise the open-file limit or lower the connection limits",
                    tag_, ec.message(), wait.count());
    timer_.expires_after(wait);
    co_await timer_.async_wait(use_tuple);
  }

  // After an accept that worked: the end of an episode, if one was under way.
  void accepted() {
    if (failures_ == 0) return;
    spdlog::info("[{}] accepting connections again after {} failed attempts", tag_, failures_);
    failures_ = 0;
  }

 private:
  boost::asio::steady_timer timer_;
  std::string tag_;
  std::size_t failures_ = 0;
};

}  // namespace tirai::relay
