#include "relay/sms/kannel.hpp"

#include "proto/sms.hpp"
#include "relay/core/neighbour.hpp"
#include "relay/use_tuple.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <deque>

namespace tirai::relay {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct KannelGateway::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor ex, const SmsConfig& c, Metrics& m)
      : executor(ex),
        config(c),
        metrics(m),
        wake(ex),
        kannel(m, "kannel", "sms", "Kannel sendsms", "SMS to clients wait and are retried with backoff") {}

  asio::any_io_executor executor;
  const SmsConfig& config;
  Metrics& metrics;
  std::deque<OutboundSms> queue;
  asio::steady_timer wake;
  NeighbourState kannel;
  std::optional<beast::tcp_stream> stream;
  bool idle = false;
  bool in_flight = false;
  bool in_flight_dropped = false;
  bool stopping = false;

  // The sendsms request for one SMS. It holds the client's number and the
  // sendsms password: it is wiped after use and never logged.
  std::string target_for(const OutboundSms& sms) const {
    std::string t = config.sendsms_url.target;
    t += t.find('?') == std::string::npos ? '?' : '&';
    t += "username=" + proto::url_encode(config.username);
    t += "&password=" + proto::url_encode(config.password);
    t += "&from=" + proto::url_encode(sms.from);
    t += "&to=" + proto::url_encode(sms.to->view());
    t += "&text=" + proto::url_encode(sms.text);
    t += "&charset=UTF-8&coding=";
    t += std::to_string(static_cast<int>(proto::sms_coding(sms.text)));
    return t;
  }

  // One request; Kannel's HTTP status, or nullopt with `error` set.
  asio::awaitable<std::optional<unsigned>> request(const OutboundSms& sms, std::string& error) {
    if (!stream) {
      tcp::resolver resolver(executor);
      auto [rec, endpoints] = co_await resolver.async_resolve(config.sendsms_url.host,
                                                              std::to_string(config.sendsms_url.port), use_tuple);
      if (rec) {
        error = "cannot resolve " + config.sendsms_url.host + ": " + rec.message();
        co_return std::nullopt;
      }
      stream.emplace(executor);
      stream->expires_after(config.request_timeout);
      auto [cec, ep] = co_await stream->async_connect(endpoints, use_tuple);
      if (cec) {
        stream.reset();
        error = "cannot connect: " + cec.message();
        co_return std::nullopt;
      }
      stream->socket().set_option(tcp::no_delay(true));
    }
    std::string target = target_for(sms);
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, config.sendsms_url.host);
    req.set(http::field::user_agent, "tirai");
    req.keep_alive(true);
    stream->expires_after(config.request_timeout);
    auto [wec, wn] = co_await http::async_write(*stream, req, use_tuple);
    sodium_memzero(target.data(), target.size());
    req.target("");
    if (wec) {
      stream.reset();
      error = "request failed: " + wec.message();
      co_return std::nullopt;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024);
    auto [rec, rn] = co_await http::async_read(*stream, buffer, parser, use_tuple);
    if (rec) {
      stream.reset();
      error = http_answer_error(rec, "sms.request_timeout");
      co_return std::nullopt;
    }
    const auto& res = parser.get();
    if (!res.keep_alive()) stream.reset();
    co_return res.result_int();
  }

  asio::awaitable<void> run() {
    auto self = shared_from_this();  // alive until the loop ends
    Backoff backoff(config.retry_min, config.retry_max);
    while (!stopping) {
      if (queue.empty()) {
        idle = true;
        wake.expires_at(asio::steady_timer::time_point::max());
        co_await wake.async_wait(use_tuple);
        idle = false;
        continue;
      }
      in_flight = true;
      in_flight_dropped = false;
      std::string error;
      const auto status = co_await request(queue.front(), error);
      in_flight = false;
      if (stopping) break;
      const bool accepted = status && *status >= 200 && *status < 300;
      if (accepted || in_flight_dropped) {
        auto sms = std::move(queue.front());
        queue.pop_front();
        metrics.sms_queue->Decrement();
        if (accepted) {
          metrics.sms_sent->Increment();
          kannel.answered();
          backoff.reset();
          if (!in_flight_dropped && sms.accepted) sms.accepted();
          continue;
        }
      }
      metrics.sms_send_failures->Increment();
      const auto wait = backoff.next();
      if (status) error = fmt::format("answered HTTP {}", *status);
      kannel.failed(fmt::format("{} ({} SMS waiting)", error, queue.size()), format_duration(wait));
      wake.expires_after(wait);
      co_await wake.async_wait(use_tuple);
    }
  }
};

std::string sendsms_url_for_log(const HttpUrl& url) {
  const auto q = url.target.find('?');
  const bool v6 = url.host.find(':') != std::string::npos && !url.host.starts_with('[');
  return fmt::format("http://{}{}{}:{}{}{}", v6 ? "[" : "", url.host, v6 ? "]" : "", url.port,
                     std::string_view(url.target).substr(0, q), q == std::string::npos ? "" : "?[query hidden]");
}

KannelGateway::KannelGateway(asio::any_io_executor executor, const SmsConfig& config, Metrics& metrics)
    : impl_(std::make_shared<Impl>(executor, config, metrics)) {}

KannelGateway::~KannelGateway() { stop(); }

void KannelGateway::start() { asio::co_spawn(impl_->executor, impl_->run(), asio::detached); }

void KannelGateway::stop() {
  impl_->stopping = true;
  impl_->wake.cancel();
  if (impl_->stream) {
    beast::error_code ignored;
    impl_->stream->socket().close(ignored);
  }
}

void KannelGateway::send(OutboundSms sms) {
  impl_->queue.push_back(std::move(sms));
  impl_->metrics.sms_queue->Increment();
  if (impl_->idle) impl_->wake.cancel();
}

void KannelGateway::drop_session(const std::string& session) {
  drop_if([&](const OutboundSms& s) { return s.session == session; });
}

void KannelGateway::drop_client(std::int64_t client) {
  if (client == 0) return;
  drop_if([&](const OutboundSms& s) { return s.client == client; });
}

void KannelGateway::drop_if(const std::function<bool(const OutboundSms&)>& match) {
  auto& q = impl_->queue;
  // The one in flight cannot be called back; it is forgotten when it
  // returns (and not tried again). The rest go now, numbers included.
  auto first = q.begin();
  if (impl_->in_flight && first != q.end()) {
    if (match(*first)) impl_->in_flight_dropped = true;
    ++first;
  }
  const auto before = q.size();
  q.erase(std::remove_if(first, q.end(), match), q.end());
  impl_->metrics.sms_queue->Decrement(static_cast<double>(before - q.size()));
}

}  // namespace tirai::relay
