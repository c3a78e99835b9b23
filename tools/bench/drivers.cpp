#include "tools/bench/drivers.hpp"

#include "relay/http/corked_stream.hpp"
#include "relay/use_tuple.hpp"
#include "tools/client.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include <charconv>
#include <iostream>
#include <deque>
#include <stdexcept>
#include <unordered_map>

namespace tirai::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using relay::use_tuple;

void Driver::connection_lost(const std::string& why) {
  if (lost_++ == 0) std::cerr << fmt::format("[bench] {}: a connection was lost during the run: {}\n", name(), why);
}

namespace {

// ---------------------------------------------------------------- raw TCP

// A raw TCP connection with one writer: everything queued while a write is
// in flight goes out in the next single write (Writes::gathered), or each
// unit queued in a write of its own (Writes::one_per_message).
class RawConn : public std::enable_shared_from_this<RawConn> {
 public:
  RawConn(asio::io_context& ioc, std::function<void(std::string_view)> on_msg)
      : on_msg_(std::move(on_msg)), socket_(ioc), wake_(ioc), ready_timer_(ioc) {}
  void set_writes(Writes w) { writes_ = w; }

  // Waits until the server confirmed the subscription (PONG after SUB, SUBACK).
  asio::awaitable<void> wait_ready() {
    ready_timer_.expires_after(std::chrono::seconds(10));
    while (!ready_) {
      auto [ec] = co_await ready_timer_.async_wait(use_tuple);
      if (!ec && !ready_) throw std::runtime_error("the server did not confirm the subscription");
    }
  }
  virtual ~RawConn() = default;

  asio::awaitable<void> connect(const std::string& host, std::uint16_t port) {
    tcp::resolver resolver(socket_.get_executor());
    auto [ec, results] = co_await resolver.async_resolve(host, std::to_string(port), use_tuple);
    if (ec) throw std::runtime_error("resolve: " + ec.message());
    auto [cec, ep] = co_await asio::async_connect(socket_, results, use_tuple);
    if (cec) throw std::runtime_error(fmt::format("connect {}:{}: {}", host, port, cec.message()));
    socket_.set_option(tcp::no_delay(true));
  }

  void start() {
    asio::co_spawn(socket_.get_executor(), writer(shared_from_this()), asio::detached);
    asio::co_spawn(socket_.get_executor(), reader(shared_from_this()), asio::detached);
  }

  // Takes over a socket already connected (and past any handshake).
  void adopt(tcp::socket socket) { socket_ = std::move(socket); }

  void write(std::string_view bytes) {
    pending_.append(bytes);
    wake();
  }

  std::function<void(const std::string&)> on_lost;

  void close() {
    closed_ = true;
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    wake_.cancel();
  }

 protected:
  // Consumes complete protocol units from `in`; returns bytes used.
  virtual std::size_t parse(std::string_view in) = 0;
  std::function<void(std::string_view)> on_msg_;  // a payload arrived
  void mark_ready() {
    ready_ = true;
    ready_timer_.cancel();
  }
  // What write() appends to, for a protocol that builds its units in place;
  // call wake() after each unit.
  std::string& pending() { return pending_; }
  void wake() {
    if (writes_ == Writes::one_per_message) ends_.push_back(pending_.size());
    wake_.cancel();
  }

 private:
  asio::awaitable<void> writer(std::shared_ptr<RawConn>) {
    std::string sending;
    while (!closed_) {
      if (pending_.empty()) {
        wake_.expires_at(asio::steady_timer::time_point::max());
        co_await wake_.async_wait(use_tuple);
        continue;
      }
      if (writes_ == Writes::one_per_message && !ends_.empty()) {
        const auto unit = ends_.front();
        ends_.pop_front();
        sending.assign(pending_, 0, unit);
        pending_.erase(0, unit);
        for (auto& end : ends_) end -= unit;
      } else {
        sending.swap(pending_);
      }
      auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(sending), use_tuple);
      if (ec) co_return;
      sending.clear();
    }
  }

  asio::awaitable<void> reader(std::shared_ptr<RawConn>) {
    std::string in;
    char buf[65536];
    while (!closed_) {
      auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buf), use_tuple);
      if (ec) {
        if (!closed_ && on_lost) on_lost(ec == asio::error::eof ? "closed by the server" : ec.message());
        co_return;
      }
      in.append(buf, n);
      const auto used = parse(in);
      in.erase(0, used);
    }
  }

  tcp::socket socket_;
  asio::steady_timer wake_;
  asio::steady_timer ready_timer_;
  std::string pending_;
  std::deque<std::size_t> ends_;  // one_per_message: where each unit in pending_ ends
  Writes writes_ = Writes::gathered;
  bool closed_ = false;
  bool ready_ = false;
};

// ---------------------------------------------------------------- NATS

class NatsConn final : public RawConn {
 public:
  using RawConn::RawConn;

 protected:
  std::size_t parse(std::string_view in) override {
    std::size_t pos = 0;
    for (;;) {
      const auto eol = in.find("\r\n", pos);
      if (eol == std::string_view::npos) return pos;
      const auto line = in.substr(pos, eol - pos);
      if (line.starts_with("MSG ")) {
        // MSG <subject> <sid> [reply-to] <#bytes>
        const auto sp = line.rfind(' ');
        std::size_t len = 0;
        std::from_chars(line.data() + sp + 1, line.data() + line.size(), len);
        if (in.size() < eol + 2 + len + 2) return pos;
        on_msg_(in.substr(eol + 2, len));
        pos = eol + 2 + len + 2;
        continue;
      }
      if (line == "PING") write("PONG\r\n");
      if (line == "PONG") mark_ready();
      if (line.starts_with("-ERR")) throw std::runtime_error(std::string(line));
      pos = eol + 2;
    }
  }
};

// One raw connection per endpoint: connect, say `hello(e)`, wait until the
// server confirms the subscription. The NATS and MQTT drivers differ only in
// what they say.
template <typename Conn>
class EndpointDriver : public Driver {
 public:
  EndpointDriver(asio::io_context& ioc, std::string host, std::uint16_t port, Writes writes)
      : ioc_(ioc), host_(std::move(host)), port_(port), writes_(writes) {}

  asio::awaitable<void> setup(std::size_t pairs) override {
    for (std::size_t e = 0; e < 2 * pairs; ++e) {
      auto c = std::make_shared<Conn>(ioc_, [this, e](std::string_view p) { on_receive(e, p); });
      c->on_lost = [this](const std::string& why) { connection_lost(why); };
      c->set_writes(writes_);
      co_await c->connect(host_, port_);
      c->start();
      c->write(hello(e));
      conns_.push_back(c);
    }
    for (auto& c : conns_) co_await c->wait_ready();
  }

  void close() override {
    for (auto& c : conns_) c->close();
  }

 protected:
  virtual std::string hello(std::size_t e) const = 0;
  std::vector<std::shared_ptr<Conn>> conns_;

 private:
  asio::io_context& ioc_;
  std::string host_;
  std::uint16_t port_;
  Writes writes_;
};

class NatsDriver final : public EndpointDriver<NatsConn> {
 public:
  using EndpointDriver::EndpointDriver;
  std::string name() const override { return "nats"; }

  void send(std::size_t e, std::string_view payload) override {
    std::string msg = fmt::format("PUB b.{} {}\r\n", e ^ 1, payload.size());
    msg.append(payload);
    msg.append("\r\n");
    conns_[e]->write(msg);
  }

 private:
  // The server answers PING only after the SUB before it is in place.
  std::string hello(std::size_t e) const override {
    return fmt::format("CONNECT {{\"verbose\":false,\"pedantic\":false,\"name\":\"bench\"}}\r\nSUB b.{} 1\r\nPING\r\n", e);
  }
};

// ---------------------------------------------------------------- MQTT 3.1.1

void put_u16(std::string& out, std::size_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xFF));
  out.push_back(static_cast<char>(v & 0xFF));
}

void put_length(std::string& out, std::size_t len) {
  do {
    auto byte = static_cast<std::uint8_t>(len % 128);
    len /= 128;
    if (len) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (len);
}

std::string mqtt_packet(std::uint8_t header, const std::string& body) {
  std::string out(1, static_cast<char>(header));
  put_length(out, body.size());
  out += body;
  return out;
}

class MqttConn final : public RawConn {
 public:
  using RawConn::RawConn;

 protected:
  std::size_t parse(std::string_view in) override {
    std::size_t pos = 0;
    for (;;) {
      if (in.size() - pos < 2) return pos;
      const auto type = static_cast<std::uint8_t>(in[pos]) >> 4;
      std::size_t len = 0, mult = 1, i = pos + 1;
      for (;;) {
        if (i >= in.size()) return pos;
        const auto b = static_cast<std::uint8_t>(in[i++]);
        len += (b & 0x7F) * mult;
        mult *= 128;
        if (!(b & 0x80)) break;
      }
      if (in.size() - i < len) return pos;
      if (type == 9) mark_ready();  // SUBACK
      if (type == 3) {  // PUBLISH, QoS 0: topic length, topic, payload
        const auto tlen = (static_cast<std::uint8_t>(in[i]) << 8) | static_cast<std::uint8_t>(in[i + 1]);
        on_msg_(in.substr(i + 2 + tlen, len - 2 - tlen));
      }
      pos = i + len;
    }
  }
};

class MqttDriver final : public EndpointDriver<MqttConn> {
 public:
  using EndpointDriver::EndpointDriver;
  std::string name() const override { return "mosquitto"; }

  void send(std::size_t e, std::string_view payload) override {
    std::string body;
    const auto topic = fmt::format("b/{}", e ^ 1);
    put_u16(body, topic.size());
    body += topic;
    body.append(payload);
    conns_[e]->write(mqtt_packet(0x30, body));
  }

 private:
  // CONNECT (3.1.1, clean session, no keep-alive) and SUBSCRIBE at QoS 0;
  // the SUBACK marks the connection ready.
  std::string hello(std::size_t e) const override {
    std::string connect;
    put_u16(connect, 4);
    connect += "MQTT";
    connect.push_back(4);
    connect.push_back(0x02);
    put_u16(connect, 0);
    const auto id = fmt::format("bench-{}", e);
    put_u16(connect, id.size());
    connect += id;
    std::string sub;
    put_u16(sub, 1);
    const auto topic = fmt::format("b/{}", e);
    put_u16(sub, topic.size());
    sub += topic;
    sub.push_back(0);
    return mqtt_packet(0x10, connect) + mqtt_packet(0x82, sub);
  }
};

// ---------------------------------------------------------------- tirai

// Extracts a JSON string field's raw value from a frame tirai wrote (no escapes
// in the fields the bench reads).
std::string_view field(std::string_view frame, std::string_view key) {
  const auto k = frame.find(key);
  if (k == std::string_view::npos) return {};
  auto start = k + key.size();
  if (start < frame.size() && frame[start] == '"') {
    const auto end = frame.find('"', start + 1);
    return frame.substr(start + 1, end - start - 1);
  }
  auto end = start;
  while (end < frame.size() && frame[end] != ',' && frame[end] != '}') ++end;
  return frame.substr(start, end - start);
}

// A WebSocket client on the raw connection: Beast does the handshake, the
// hello and the welcome; from then on frames are parsed and built here, so
// that, as with the raw drivers, every frame one read brought is handled
// before the writer's next write, and whatever was queued meanwhile leaves
// in that one write. (Beast's reader handed over one frame per completion,
// and the writer ran between them: almost a write per message, which cost
// the generator and the relay a segment each.) A connection the server ends
// during a run is reported, not silently left waiting: the run's figures
// would be wrong.
class WsConn final : public RawConn {
 public:
  WsConn(asio::io_context& ioc, std::function<void(std::string_view)> on_frame,
         std::function<void(const std::string&)> lost)
      : RawConn(ioc, std::move(on_frame)), ioc_(ioc), mask_state_(0x9E3779B97F4A7C15ULL ^ reinterpret_cast<std::uintptr_t>(this)) {
    on_lost = std::move(lost);
  }

  asio::awaitable<void> open(const std::string& host, std::uint16_t port, std::string hello) {
    websocket::stream<beast::tcp_stream> ws(ioc_);
    auto& stream = beast::get_lowest_layer(ws);
    tcp::resolver resolver(ws.get_executor());
    auto [ec, results] = co_await resolver.async_resolve(host, std::to_string(port), use_tuple);
    if (ec) throw std::runtime_error("resolve: " + ec.message());
    auto [cec, ep] = co_await stream.async_connect(results, use_tuple);
    if (cec) throw std::runtime_error("connect: " + cec.message());
    stream.socket().set_option(tcp::no_delay(true));
    auto [hec] = co_await ws.async_handshake(host, "/v1/ws", use_tuple);
    if (hec) throw std::runtime_error("handshake: " + hec.message());
    ws.text(true);
    auto [wec, wn] = co_await ws.async_write(asio::buffer(hello), use_tuple);
    if (wec) throw std::runtime_error("hello: " + wec.message());
    beast::flat_buffer b;
    auto [rec, rn] = co_await ws.async_read(b, use_tuple);
    if (rec) throw std::runtime_error("welcome: " + rec.message());
    const auto welcome = beast::buffers_to_string(b.data());
    if (welcome.find("\"welcome\"") == std::string::npos) throw std::runtime_error("hello refused: " + welcome);
    // The relay sends nothing more until a message arrives, so Beast holds
    // no bytes that the raw reader would miss.
    adopt(stream.release_socket());
    start();
  }

  // A text frame from a client: masked (RFC 6455 5.3), with a key from a
  // cheap generator; the relay unmasks whatever the key.
  void write(std::string_view text) { put_frame(0x1, text); }

 protected:
  std::size_t parse(std::string_view in) override {
    std::size_t pos = 0;
    for (;;) {
      if (in.size() - pos < 2) return pos;
      const auto b0 = static_cast<std::uint8_t>(in[pos]);
      const auto b1 = static_cast<std::uint8_t>(in[pos + 1]);
      if (b1 & 0x80) throw std::runtime_error("the server sent a masked frame");
      std::size_t len = b1 & 0x7F, head = 2;
      if (len == 126 || len == 127) {
        const std::size_t n = len == 126 ? 2 : 8;
        if (in.size() - pos < 2 + n) return pos;
        len = 0;
        for (std::size_t k = 0; k < n; ++k) len = (len << 8) | static_cast<std::uint8_t>(in[pos + 2 + k]);
        head += n;
      }
      if (in.size() - pos - head < len) return pos;
      const auto payload = in.substr(pos + head, len);
      pos += head + len;
      switch (b0 & 0x0F) {
        case 0x1:
          if (!(b0 & 0x80)) throw std::runtime_error("the server sent a fragmented frame");
          on_msg_(payload);
          break;
        case 0x8: {
          std::string why = "closed by the server";
          if (payload.size() >= 2)
            why += fmt::format(" ({}: {})", (static_cast<std::uint8_t>(payload[0]) << 8) | static_cast<std::uint8_t>(payload[1]),
                               payload.substr(2));
          if (on_lost) on_lost(why);
          close();
          return pos;
        }
        case 0x9: put_frame(0xA, payload); break;  // ping: pong
        default: break;
      }
    }
  }

 private:
  void put_frame(std::uint8_t opcode, std::string_view payload) {
    auto& out = pending();
    out.push_back(static_cast<char>(0x80 | opcode));
    if (payload.size() < 126) {
      out.push_back(static_cast<char>(0x80 | payload.size()));
    } else if (payload.size() <= 0xFFFF) {
      out.push_back(static_cast<char>(0x80 | 126));
      put_u16(out, payload.size());
    } else {
      out.push_back(static_cast<char>(0x80 | 127));
      for (int k = 7; k >= 0; --k) out.push_back(static_cast<char>((payload.size() >> (8 * k)) & 0xFF));
    }
    mask_state_ ^= mask_state_ << 13;
    mask_state_ ^= mask_state_ >> 7;
    mask_state_ ^= mask_state_ << 17;
    char key[4];
    for (int k = 0; k < 4; ++k) key[k] = static_cast<char>((mask_state_ >> (8 * k)) & 0xFF);
    out.append(key, 4);
    const auto at = out.size();
    out.append(payload);
    for (std::size_t k = 0; k < payload.size(); ++k) out[at + k] = static_cast<char>(out[at + k] ^ key[k & 3]);
    wake();
  }

  asio::io_context& ioc_;
  std::uint64_t mask_state_;
};

class TiraiDriver final : public Driver {
 public:
  TiraiDriver(asio::io_context& ioc, TiraiOptions o, Writes writes) : ioc_(ioc), o_(std::move(o)), writes_(writes) {}
  std::string name() const override { return "tirai"; }

  asio::awaitable<void> setup(std::size_t pairs) override {
    client::AdminClient admin(o_.host, o_.admin_port, o_.admin_token, std::chrono::seconds(60));
    const std::size_t talents = (pairs + o_.sessions_per_talent - 1) / o_.sessions_per_talent;
    const std::string secret = "bench-secret-" + o_.run_id;
    for (std::size_t t = 0; t < talents; ++t) {
      const auto alias = fmt::format("b{}-{}", o_.run_id, t);
      auto r = admin.request("POST", "/v1/talents", json::serialize(json::object{{"alias", alias}, {"secret", secret}}));
      if (r.status != 201) throw std::runtime_error("enrol: " + r.body);
      aliases_.push_back(alias);
    }
    for (std::size_t p = 0; p < pairs; ++p) {
      const auto number = fmt::format("+6289{:09}", p);
      auto r = admin.request("POST", "/v1/sessions",
                             json::serialize(json::object{{"talent", aliases_[p / o_.sessions_per_talent]},
                                                          {"client", number},
                                                          {"package", o_.package}}));
      if (r.status != 201) throw std::runtime_error("book: " + r.body);
      auto v = json::parse(r.body).as_object();
      sessions_.push_back(std::string(v.at("session").as_string()));
      tokens_.push_back(std::string(v.at("client_token").as_string()));
      pair_of_[sessions_.back()] = p;
    }
    last_seq_.assign(2 * pairs, 0);
    acked_.assign(2 * pairs, 0);
    for (std::size_t t = 0; t < talents; ++t) {
      auto c = std::make_shared<WsConn>(
          ioc_, [this](std::string_view f) { on_frame(f, true); }, [this](const std::string& why) { connection_lost(why); });
      // Named first: GCC 12 mishandles temporaries inside co_await (PR 99576).
      const auto hello =
          json::serialize(json::object{{"type", "hello"}, {"role", "talent"}, {"alias", aliases_[t]}, {"secret", secret}});
      c->set_writes(writes_);
      co_await c->open(o_.host, o_.relay_port, hello);
      talent_conns_.push_back(c);
    }
    for (std::size_t p = 0; p < pairs; ++p) {
      auto c = std::make_shared<WsConn>(
          ioc_, [this](std::string_view f) { on_frame(f, false); }, [this](const std::string& why) { connection_lost(why); });
      const auto hello = json::serialize(json::object{{"type", "hello"}, {"role", "client"}, {"token", tokens_[p]}});
      c->set_writes(writes_);
      co_await c->open(o_.host, o_.relay_port, hello);
      client_conns_.push_back(c);
    }
  }

  void send(std::size_t e, std::string_view payload) override {
    const std::size_t p = e / 2;
    std::string frame = fmt::format(R"({{"type":"send","session":"{}","id":"{}","text":"{}"}})", sessions_[p],
                                    ++send_id_, payload);
    if (e % 2 == 0) client_conns_[p]->write(std::move(frame));
    else talent_conns_[p / o_.sessions_per_talent]->write(std::move(frame));
  }

  void close() override {
    for (auto& c : client_conns_) c->close();
    for (auto& c : talent_conns_) c->close();
  }

  std::size_t connections(std::size_t pairs) const override {
    return pairs + (pairs + o_.sessions_per_talent - 1) / o_.sessions_per_talent;
  }

 private:
  void on_frame(std::string_view f, bool talent_side) {
    if (!f.starts_with(R"({"type":"message")")) return;
    const auto session = field(f, R"("session":)");
    auto it = pair_of_.find(std::string(session));
    if (it == pair_of_.end()) return;
    const std::size_t e = 2 * it->second + (talent_side ? 1 : 0);
    std::int64_t seq = 0;
    const auto s = field(f, R"("seq":)");
    std::from_chars(s.data(), s.data() + s.size(), seq);
    last_seq_[e] = seq;
    on_receive(e, field(f, R"("text":)"));
    // Acknowledge every 64 messages so the relay can drop delivered bodies.
    if (seq - acked_[e] >= 64) {
      acked_[e] = seq;
      auto ack = fmt::format(R"({{"type":"ack","session":"{}","seq":{}}})", session, seq);
      if (talent_side) talent_conns_[it->second / o_.sessions_per_talent]->write(std::move(ack));
      else client_conns_[it->second]->write(std::move(ack));
    }
  }

  asio::io_context& ioc_;
  TiraiOptions o_;
  Writes writes_;
  std::vector<std::string> aliases_, sessions_, tokens_;
  std::unordered_map<std::string, std::size_t> pair_of_;
  std::vector<std::shared_ptr<WsConn>> talent_conns_, client_conns_;
  std::vector<std::int64_t> last_seq_, acked_;
  std::uint64_t send_id_ = 0;
};

}  // namespace

std::unique_ptr<Driver> make_tirai_driver(asio::io_context& ioc, TiraiOptions options, Writes writes) {
  return std::make_unique<TiraiDriver>(ioc, std::move(options), writes);
}
std::unique_ptr<Driver> make_nats_driver(asio::io_context& ioc, std::string host, std::uint16_t port, Writes writes) {
  return std::make_unique<NatsDriver>(ioc, std::move(host), port, writes);
}
std::unique_ptr<Driver> make_mqtt_driver(asio::io_context& ioc, std::string host, std::uint16_t port, Writes writes) {
  return std::make_unique<MqttDriver>(ioc, std::move(host), port, writes);
}

}  // namespace tirai::bench
