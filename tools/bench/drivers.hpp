#pragma once
// One pair workload, three transports. A driver connects `pairs` pairs of
// endpoints (endpoint 2p on the client side, 2p+1 on the talent side) and
// lets each endpoint send a payload to its peer; everything else (pacing,
// timestamps, histograms) is shared by all drivers in bench.cpp.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace tirai::bench {

// How an endpoint writes what it has to send.
enum class Writes {
  // Everything queued while a write is in flight leaves in the next single
  // write: at saturation many frames share a segment, the cheapest for
  // both sides (a generator that keeps up at any rate).
  gathered,
  // One write per protocol unit (a frame, a PUBLISH, a PUB), each its own
  // segment (TCP_NODELAY): as people's clients send, one message at a time.
  one_per_message,
};

class Driver {
 public:
  virtual ~Driver() = default;
  virtual std::string name() const = 0;
  // Connects and wires every endpoint; returns when all are ready to send.
  virtual boost::asio::awaitable<void> setup(std::size_t pairs) = 0;
  // Endpoint `e` sends `payload` to its peer. Never blocks.
  virtual void send(std::size_t e, std::string_view payload) = 0;
  // Called for every payload an endpoint receives.
  std::function<void(std::size_t e, std::string_view payload)> on_receive;
  // Closes every connection.
  virtual void close() = 0;
  // How many connections `pairs` pairs take.
  virtual std::size_t connections(std::size_t pairs) const { return 2 * pairs; }
  // Connections the server ended (or that failed) before close(): a run with
  // any is not a measurement, as its endpoints stopped sending.
  std::size_t lost_connections() const { return lost_; }

 protected:
  void connection_lost(const std::string& why);

 private:
  std::size_t lost_ = 0;
};

struct TiraiOptions {
  std::string host = "127.0.0.1";
  std::uint16_t relay_port = 8080;
  std::uint16_t admin_port = 8081;
  std::string admin_token;
  std::size_t sessions_per_talent = 10;
  std::string run_id;  // makes talent aliases unique per run
  std::string package = "chat-30m";  // what each session is booked with
};

std::unique_ptr<Driver> make_tirai_driver(boost::asio::io_context& ioc, TiraiOptions options, Writes writes);
std::unique_ptr<Driver> make_nats_driver(boost::asio::io_context& ioc, std::string host, std::uint16_t port, Writes writes);
std::unique_ptr<Driver> make_mqtt_driver(boost::asio::io_context& ioc, std::string host, std::uint16_t port, Writes writes);

}  // namespace tirai::bench
