#pragma once
#include "relay/config/config.hpp"
#include "relay/core/metrics.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace tirai::relay {

// The wait before the next try of a request a neighbour did not answer:
// `least`, doubling with each failure up to `most`; back to `least` once it
// answers.
class Backoff {
 public:
  Backoff(Millis least, Millis most) : least_(least), most_(most) {}
  Millis next() {
    current_ = current_.count() == 0 ? least_ : std::min(current_ * 2, most_);
    return current_;
  }
  void reset() { current_ = Millis{0}; }

 private:
  Millis least_, most_, current_{0};
};

// Requests a neighbour did not answer (a cancel, a hang-up) that must not be
// dropped, kept and handed back together once a backoff is over: 1 s,
// doubling with each wait to a minute, back to 1 s once it answers.
template <class Request>
class OwedRequests {
 public:
  explicit OwedRequests(boost::asio::any_io_executor executor) : timer_(executor) {}

  // Keeps `req`. The first one kept starts a wait, whose length this
  // returns; when it is over (or stop() cut it short), `due` gets every
  // request kept until then. `due` must keep this object alive.
  std::optional<Millis> keep(Request req, std::function<void(std::deque<Request>)> due) {
    owed_.push_back(std::move(req));
    if (waiting_) return std::nullopt;
    waiting_ = true;
    const auto wait = backoff_.next();
    timer_.expires_after(wait);
    timer_.async_wait([this, due = std::move(due)](boost::system::error_code) {
      waiting_ = false;
      due(std::exchange(owed_, {}));
    });
    return wait;
  }
  void answered() { backoff_.reset(); }
  // Hands what is kept to `due` at once.
  void stop() { timer_.cancel(); }
  bool empty() const { return owed_.empty(); }
  std::size_t size() const { return owed_.size(); }

 private:
  boost::asio::steady_timer timer_;
  std::deque<Request> owed_;
  Backoff backoff_{std::chrono::seconds(1), std::chrono::minutes(1)};
  bool waiting_ = false;
};

// Why reading a neighbour's HTTP answer failed, for NeighbourState's lines:
// `timeout_key` names the setting that bounded the wait.
std::string http_answer_error(const boost::system::error_code& ec, std::string_view timeout_key);

// Whether a neighbour service (Kannel, coturn's CLI, Kamailio's JSON-RPC)
// answered tiraid's last request. Each change is logged once: a warning
// when it stops answering (what failed, and what that means for the
// operator), a line when it answers again (after how many failed tries and
// how long); the tries in between are debug lines, so an outage of an hour
// is two lines, not one per retry. tirai_neighbour_up{neighbour} shows the
// state, tirai_neighbour_failures_total{neighbour} counts every failed try. What a neighbour answered is never logged (it may hold numbers).
class NeighbourState {
 public:
  // `tag` and `name` start the log lines ("[sms]", "Kannel sendsms");
  // `consequence` ends the warning ("replies to SMS clients wait").
  NeighbourState(Metrics& metrics, std::string_view neighbour, std::string tag, std::string name,
                 std::string consequence)
      : metrics_(metrics),
        neighbour_(neighbour),
        tag_(std::move(tag)),
        name_(std::move(name)),
        consequence_(std::move(consequence)) {}

  void answered() {
    if (up_ == true) return;
    if (up_ == false)
      spdlog::info("[{}] {} answers again, after {} failed tries in {} s", tag_, name_, failures_,
                   std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - since_).count());
    up_ = true;
    failures_ = 0;
    metrics_.neighbour_up(neighbour_)->Set(1);
  }

  // `next_try` (empty: none planned) goes into the lines.
  void failed(std::string_view error, std::string_view next_try = {}) {
    ++failures_;
    metrics_.neighbour_failures(neighbour_)->Increment();
    const std::string retry = next_try.empty() ? std::string() : fmt::format("; next try in {}", next_try);
    if (up_ == false) return spdlog::debug("[{}] {} still {} (try {}){}", tag_, name_, error, failures_, retry);
    spdlog::warn("[{}] {} {}; {}{}", tag_, name_, error, consequence_, retry);
    up_ = false;
    since_ = std::chrono::steady_clock::now();
    metrics_.neighbour_up(neighbour_)->Set(0);
  }

  bool down() const { return up_ == false; }

 private:
  Metrics& metrics_;
  std::string neighbour_, tag_, name_, consequence_;
  std::optional<bool> up_;  // unknown until the first request
  std::uint64_t failures_ = 0;
  std::chrono::steady_clock::time_point since_{};
};

}  // namespace tirai::relay
