#pragma once
#include "relay/config/config.hpp"
#include "relay/core/metrics.hpp"
#include "relay/sms/sms_gateway.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>

namespace tirai::relay {

// Sends SMS through Kannel's sendsms interface (smsbox), one request at a
// time over a keep-alive connection, in the order they were queued. A request
// that fails (Kannel down, a timeout, any answer but 2xx) is retried after
// sms.retry_min, doubling up to sms.retry_max, until Kannel accepts it; the
// queue waits behind it so a session's texts keep their order. Runs on the
// relay thread; the queue itself lives in memory: what must survive a restart
// is in the store (messages, notices) and queued again by
// SmsRelay::resume().
class KannelGateway final : public SmsGateway {
 public:
  KannelGateway(boost::asio::any_io_executor executor, const SmsConfig& config, Metrics& metrics);
  ~KannelGateway() override;
  void send(OutboundSms sms) override;
  void drop_session(const std::string& session) override;
  void drop_client(std::int64_t client) override;
  void start();
  void stop();

 private:
  void drop_if(const std::function<bool(const OutboundSms&)>& match);
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// sms.sendsms_url as it may be logged: scheme, host, port and path. The
// query (where an operator may have put credentials or an smsc name) shows
// only as "?[query hidden]"; user:password@ never gets this far (the config
// refuses it).
std::string sendsms_url_for_log(const HttpUrl& url);

}  // namespace tirai::relay
