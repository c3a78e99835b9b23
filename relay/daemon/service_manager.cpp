#include "relay/daemon/service_manager.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdint>
#include <string>

namespace tirai::relay {

namespace {
void notify(const std::string& state) {
  // < 0: the socket refused it; 0: not under systemd. Neither stops the relay.
  if (const int r = ::sd_notify(0, state.c_str()); r < 0)
    spdlog::debug("[daemon] systemd's notify socket refused {}: error {}", state.substr(0, state.find('\n')), -r);
}

// CLOCK_MONOTONIC in microseconds, as systemd's RELOADING=1 wants it.
std::uint64_t monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<std::uint64_t>(ts.tv_nsec) / 1'000;
}
}  // namespace

ServiceManager::ServiceManager(boost::asio::io_context& relay_loop) : timer_(relay_loop) {
  std::uint64_t usec = 0;
  if (::sd_watchdog_enabled(0, &usec) > 0) interval_ = std::chrono::microseconds(usec);
}

void ServiceManager::ready(std::string_view status) { notify(fmt::format("READY=1\nSTATUS={}", status)); }

void ServiceManager::reloading() { notify(fmt::format("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec())); }

void ServiceManager::reloaded(std::string_view status) { notify(fmt::format("READY=1\nSTATUS={}", status)); }

void ServiceManager::stopping() { notify("STOPPING=1\nSTATUS=stopping"); }

void ServiceManager::start_watchdog() {
  if (interval_.count() == 0) return;
  spdlog::info("[daemon] systemd's watchdog hears from the relay loop every {} ms",
               std::chrono::duration_cast<std::chrono::milliseconds>(interval_ / 2).count());
  beat();
}

void ServiceManager::beat() {
  notify("WATCHDOG=1");
  timer_.expires_after(interval_ / 2);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) beat();
  });
}

}  // namespace tirai::relay
