#pragma once
// What tiraid tells systemd (sd_notify(3)) when it runs as a Type=notify
// service: READY=1 once its listeners are up, RELOADING=1 and READY=1
// around a SIGHUP, STOPPING=1 on the way out, and WATCHDOG=1 from the relay
// thread's loop while it turns. Without NOTIFY_SOCKET (not under systemd)
// every call does nothing.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <string_view>

namespace tirai::relay {

class ServiceManager {
 public:
  // Reads WATCHDOG_USEC (and WATCHDOG_PID) once, as the watchdog is set up.
  explicit ServiceManager(boost::asio::io_context& relay_loop);

  void ready(std::string_view status);
  void reloading();
  void reloaded(std::string_view status);
  void stopping();
  // Starts the heartbeat: WATCHDOG=1 at half the watchdog's interval, from a
  // timer on the relay loop, so that a loop stuck in a handler stops the
  // pings and systemd restarts the service.
  void start_watchdog();
  std::chrono::microseconds watchdog_interval() const { return interval_; }

 private:
  void beat();

  boost::asio::steady_timer timer_;
  std::chrono::microseconds interval_{0};
};

}  // namespace tirai::relay
