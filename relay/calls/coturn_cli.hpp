#pragma once
#include "relay/calls/turn_admin.hpp"
#include "relay/config/config.hpp"
#include "relay/core/metrics.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <string_view>

namespace tirai::relay {

// coturn's admin CLI (cli-ip, cli-port, cli-password), a telnet-style text
// protocol: a banner ending "Enter password: ", the password, then a "> "
// prompt after each command. `ps USER` lists that user's sessions as
// "id=N, user <USER>:" blocks; `cs N` cancels one at once. One connection
// per request, requests one after another, each within `timeout`. A cancel
// coturn does not answer is tried again (1 s, doubling to a minute) until
// it does; a check is not (its call fails at once). What
// coturn prints (client and peer addresses among it) is parsed for ids and
// usernames only, and never logged.
class CoturnCli final : public TurnAdmin {
 public:
  CoturnCli(boost::asio::any_io_executor executor, Address at, std::string password, Millis timeout,
            Metrics& metrics);
  ~CoturnCli() override;
  CoturnCli(const CoturnCli&) = delete;
  CoturnCli& operator=(const CoturnCli&) = delete;

  void check(std::function<void(bool ok)> done) override;
  void cancel(std::vector<std::string> usernames, std::function<void(std::optional<int>)> done) override;
  void cancel_all(std::function<bool(const std::string&)> spare, std::function<void(std::optional<int>)> done) override;
  // Stops: requests not yet run are answered as failures.
  void stop();
  // Nothing queued or running.
  bool idle() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// The session ids and usernames of a `ps` listing, in order.
struct CoturnSession {
  std::string id;
  std::string username;
};
std::vector<CoturnSession> parse_coturn_sessions(std::string_view listing);
// Whether `username` has the form tirai issues ("<digits>:<26 base32>").
bool tirai_turn_username(std::string_view username);

}  // namespace tirai::relay
