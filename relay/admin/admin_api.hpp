#pragma once
#include "proto/wipe.hpp"
#include "relay/booking/booking.hpp"
#include "relay/core/metrics.hpp"
#include "relay/core/runner.hpp"
#include "relay/ratings/ratings.hpp"
#include "relay/sms/sms_relay.hpp"
#include "relay/web/site.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <string>

namespace tirai::relay {

// What the operator's API works on.
struct AdminContext {
  Bookings& bookings;
  Ratings& ratings;
  StoreRunner& store;
  Metrics& metrics;
  std::string token;  // the bearer token every call but /v1/health must carry; wiped with the context
  boost::asio::ssl::context* tls = nullptr;
  // The relay port's origin: a booking's client link is
  // <public_url>/s/#<client token>.
  std::string public_url;
  std::shared_ptr<const web::Site> site;  // the operator page, at "/"
  SmsRelay* sms = nullptr;                 // with [sms] enabled: texts the link for send_link
  // The answers about a client number (erase, lookup, verify, restrict) wait
  // until this long after their request came, so that their timing does not
  // tell whether the number was known. Only the fuzz target shortens it.
  std::chrono::milliseconds equal_answer_time{250};
  // admin.header_timeout and admin.body_timeout.
  std::chrono::milliseconds header_timeout{30'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::size_t max_header_bytes = 16384;  // admin.max_header_bytes
  ~AdminContext() { proto::wipe(token); }
};

// Serves the admin HTTP API (design §6) on `acceptor` until it is closed.
boost::asio::awaitable<void> run_admin_listener(boost::asio::ip::tcp::acceptor& acceptor, AdminContext& context);

}  // namespace tirai::relay
