#include "relay/daemon/relay_listener.hpp"

#include "proto/wipe.hpp"
#include "relay/http/client_address.hpp"
#include "relay/http/corked_stream.hpp"
#include "relay/http/server.hpp"
#include "relay/http/slow_peer.hpp"
#include "relay/use_tuple.hpp"
#include "relay/web/pages.hpp"

#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace tirai::relay {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using httpd::PlainStream;
using httpd::TlsStream;

namespace {

constexpr int max_bad_frames_in_row = 10;

// Bounds the handshakes Beast runs itself once the upgrade request is read:
// writing the 101 answer, and the closing handshake, in which a peer that
// never answers our close frame must not keep its connection open. Ten
// seconds leaves a slow mobile link ample time for one small frame each way.
constexpr std::chrono::seconds ws_handshake_timeout{10};

// The header of an unmasked, final text frame of `n` bytes (RFC 6455 §5.2);
// returns its length.
std::size_t text_frame_header(std::size_t n, char* out) {
  out[0] = static_cast<char>(0x81);  // FIN, opcode 1 (text)
  if (n < 126) {
    out[1] = static_cast<char>(n);
    return 2;
  }
  if (n <= 0xFFFF) {
    out[1] = static_cast<char>(126);
    out[2] = static_cast<char>(n >> 8);
    out[3] = static_cast<char>(n & 0xFF);
    return 4;
  }
  out[1] = static_cast<char>(127);
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<char>((static_cast<std::uint64_t>(n) >> (56 - 8 * i)) & 0xFF);
  return 10;
}

// What the relay port's admission hook shares with its connections (relay
// thread only).
struct ListenerState {
  std::size_t live = 0;  // for relay.max_connections
  bool full = false;     // at relay.max_connections: said once until below it again
  // Connections not past hello, per limit_key() of their source address.
  std::unordered_map<std::string, std::size_t> unauthenticated;
  TrustedProxies trusted;
};

// Counts a connection from its accept to its end in `state`: as live, and
// under its source address (unless empty: a trusted proxy) until it has said
// hello.
class RelayAdmission final : public httpd::Admission {
 public:
  RelayAdmission(std::shared_ptr<ListenerState> state, std::string source)
      : state_(std::move(state)), source_(std::move(source)) {
    ++state_->live;
    if (!source_.empty()) ++state_->unauthenticated[source_];
  }
  ~RelayAdmission() override {
    --state_->live;
    authenticated();
  }
  RelayAdmission(const RelayAdmission&) = delete;
  RelayAdmission& operator=(const RelayAdmission&) = delete;

  void authenticated() override {
    if (source_.empty()) return;
    auto it = state_->unauthenticated.find(source_);
    if (it != state_->unauthenticated.end() && --it->second == 0) state_->unauthenticated.erase(it);
    source_.clear();
  }
  const ListenerState& state() const { return *state_; }

 private:
  std::shared_ptr<ListenerState> state_;
  std::string source_;
};

// One WebSocket peer over plain TCP or TLS. It owns itself through its
// pending operations (the handshake coroutine, then one read at a time, and a
// closer coroutine only while closing), so an idle connection is a read and
// this object; the relay only holds it as a Peer* between attach
// and detach, both on the relay thread.
template <typename NextLayer>
class WsConnection final : public Peer, public std::enable_shared_from_this<WsConnection<NextLayer>> {
 public:
  // The connection keeps counting in its admission until it ends.
  WsConnection(NextLayer stream, std::unique_ptr<RelayAdmission> admission, Relay& relay, const Config& config)
      : ws_(std::move(stream)),
        admission_(std::move(admission)),
        relay_(relay),
        config_(config),
        hello_timer_(ws_.get_executor()) {}
  WsConnection(const WsConnection&) = delete;
  WsConnection& operator=(const WsConnection&) = delete;

  auto get_executor() { return ws_.get_executor(); }

  // Frames go straight into the corked layer (a text frame from the server
  // is its header and the payload, unmasked: RFC 6455 §5.2): no write
  // operation per frame, and everything delivered in one turn of the loop
  // (a store group's worth) leaves in one write. Beast still writes its own
  // control frames (pong, ping, close) through the same layer, in order.
  void deliver(std::string_view frame) override {
    if (closing_ || finished_ || !accepted_ || !ws_.is_open()) return;
    auto& cork = ws_.next_layer();
    // Slow is a socket that stopped taking bytes, not a burst.
    // (The clock is read only when a write is under way.)
    const auto writing_for = cork.writing() ? cork.writing_for(std::chrono::steady_clock::now()) : std::nullopt;
    if (too_slow({cork.writes_waiting(), cork.buffered(), writing_for}, config_.relay.max_outbound_frames)) {
      // Everything queued is durable; the peer gets it again when it reconnects.
      relay_.metrics().slow_peers->Increment();
      close(CloseCode::try_again_later, "peer too slow");
      return;
    }
    char header[10];
    cork.write_now(std::string_view(header, text_frame_header(frame.size(), header)), frame);
  }

  // Once authenticated, the hello timeout's pending wait is let go (memory
  // per idle connection), and the connection no longer counts against its
  // address's unauthenticated connections.
  void logged_in() override {
    hello_timer_.cancel();
    admission_->authenticated();
  }

  void close(CloseCode code, std::string_view reason) override {
    if (closing_ || finished_) return;
    closing_ = true;
    close_reason_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
    start_writer();
  }

  // The WebSocket handshake, answering the upgrade request the HTTP front
  // read, as a coroutine; once the WebSocket is up, the coroutine ends and
  // reading goes on through do_read/on_read. An idle connection then holds
  // one pending read whose handler is a shared_ptr, not a coroutine's
  // frames, which weigh more (see finding 7 of docs/performance.md).
  asio::awaitable<void> run(httpd::Request head) {
    auto self = this->shared_from_this();
    if (!co_await upgrade(head)) co_return;
    accepted_ = true;
    relay_.attach(*this);
    start_writer();  // a close asked for during the handshake
    hello_timer_.expires_after(config_.relay.hello_timeout);
    hello_timer_.async_wait([weak = this->weak_from_this()](beast::error_code ec) {
      auto c = weak.lock();
      if (!ec && c && !c->authenticated) c->close(CloseCode::policy, "hello timeout");
    });
    do_read();
  }

 private:
  // A message is read in pieces of at most read_piece bytes, so the buffer an
  // idle connection keeps prepared is that, not Beast's 1,536-byte read size.
  static constexpr std::size_t read_piece = 512;

  void do_read() {
    ws_.async_read_some(buffer_, read_piece,
                        [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return finish();
    if (!ws_.is_message_done()) return do_read();  // Beast holds the message to read_message_max
    try {
      on_message();
    } catch (const std::exception& e) {
      // A broken invariant ends this connection, not the relay.
      spdlog::error("[relay] connection ended by an error: {}", e.what());
      return finish();
    }
    do_read();
  }

  void on_message() {
    if (closing_) {
      buffer_.consume(buffer_.size());
      return;
    }
    proto::Inbound frame =
        ws_.got_text() ? proto::parse_frame(std::string_view(static_cast<const char*>(buffer_.data().data()),
                                                             buffer_.size()),
                                            proto::Limits{config_.relay.max_text_chars})
                       : proto::Inbound(proto::FrameError{proto::ErrorCode::bad_request, "binary frames are not accepted", {}});
    // Before hello succeeded, a frame may carry a secret or a token, and so
    // does a delete_account (a malformed one too, so every refused frame):
    // its bytes are overwritten before the buffer is reused.
    const bool secretive = !authenticated || proto::carries_secret(frame) ||
                           std::holds_alternative<proto::FrameError>(frame);
    if (secretive) proto::wipe(buffer_.data().data(), buffer_.size());
    buffer_.consume(buffer_.size());
    // A long message's capacity is given back, so it is not kept while idle.
    if (buffer_.capacity() > 4 * read_piece) buffer_.shrink_to_fit();
    const bool bad = std::holds_alternative<proto::FrameError>(frame);
    const bool hello = secretive;
    relay_.on_frame(*this, std::move(frame));
    if (hello) proto::wipe_stack_below();
    bad_in_row_ = bad ? bad_in_row_ + 1 : 0;
    if (bad_in_row_ >= max_bad_frames_in_row) close(CloseCode::policy, "too many bad frames");
  }

  void finish() {
    finished_ = true;
    hello_timer_.cancel();
    relay_.detach(*this);
  }

  // Accepts the WebSocket: the login limits count the client, which a
  // trusted proxy names in the request.
  asio::awaitable<bool> upgrade(const httpd::Request& head) {
    auto& lowest = beast::get_lowest_layer(ws_);
    beast::error_code ec;
    const auto remote = lowest.socket().remote_endpoint(ec);
    if (ec) co_return false;
    address = limit_key(admission_->state().trusted.client_address(remote.address(), head["X-Forwarded-For"],
                                                                   head[http::field::forwarded]));
    websocket::stream_base::timeout t{};
    t.handshake_timeout = ws_handshake_timeout;
    t.idle_timeout = config_.relay.idle_timeout;
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "tirai"); }));
    ws_.read_message_max(config_.relay.max_frame_bytes);
    auto [aec] = co_await ws_.async_accept(head, use_tuple);
    if (aec) co_return false;
    ws_.text(true);
    co_return true;
  }

  // Starts the closing handshake once the WebSocket is up.
  void start_writer() {
    if (writing_ || !accepted_ || finished_ || !closing_) return;
    writing_ = true;
    auto self = this->shared_from_this();
    asio::co_spawn(ws_.get_executor(), closer(std::move(self)), asio::detached);
  }

  // Sends the close frame behind whatever frames are still gathered.
  asio::awaitable<void> closer([[maybe_unused]] std::shared_ptr<WsConnection> self) {
    co_await ws_.async_close(close_reason_, use_tuple);
  }

  websocket::stream<CorkedStream<NextLayer>> ws_;
  std::unique_ptr<RelayAdmission> admission_;
  beast::flat_buffer buffer_;
  int bad_in_row_ = 0;
  Relay& relay_;
  const Config& config_;
  asio::steady_timer hello_timer_;
  websocket::close_reason close_reason_;
  bool closing_ = false;
  bool accepted_ = false;  // the WebSocket handshake is done: frames may be written
  bool writing_ = false;   // the closing handshake is under way
  bool finished_ = false;
};

// The /v1/ws row of the relay port: the connection becomes a WebSocket peer.
class WsUpgrade final : public httpd::Upgrade {
 public:
  WsUpgrade(Relay& relay, const Config& config) : relay_(relay), config_(config) {}
  void take(PlainStream stream, httpd::Request head, httpd::AdmissionPtr admission) override {
    spawn(std::make_shared<WsConnection<PlainStream>>(std::move(stream), own(std::move(admission)), relay_, config_),
          std::move(head));
  }
  void take(TlsStream stream, httpd::Request head, httpd::AdmissionPtr admission) override {
    spawn(std::make_shared<WsConnection<TlsStream>>(std::move(stream), own(std::move(admission)), relay_, config_),
          std::move(head));
  }

 private:
  // Every connection of the relay port was admitted by its hook below.
  static std::unique_ptr<RelayAdmission> own(httpd::AdmissionPtr a) {
    return std::unique_ptr<RelayAdmission>(static_cast<RelayAdmission*>(a.release()));
  }
  // The upgrade request lives in the handshake's coroutine, not in the
  // connection: an idle connection does not keep it.
  template <typename Conn>
  static void spawn(std::shared_ptr<Conn> conn, httpd::Request head) {
    auto ex = conn->get_executor();
    asio::co_spawn(ex, conn->run(std::move(head)), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("[relay] connection ended by an error: {}", ex.what());
      }
    });
  }

  Relay& relay_;
  const Config& config_;
};

}  // namespace

// Whether an upgrade request may come from where its Origin says: from
// the relay's own pages, or from no page at all (a native app sends none).
bool origin_allowed(std::string_view sent, std::string_view own) {
  if (sent.empty()) return true;
  if (sent.size() != own.size()) return false;
  for (std::size_t i = 0; i < sent.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(sent[i])) != own[i]) return false;
  return true;
}

asio::awaitable<void> run_relay_listener(tcp::acceptor& acceptor, Relay& relay, const Config& config,
                                         asio::ssl::context* tls, std::shared_ptr<const web::Site> site,
                                         std::string origin) {
  auto state = std::make_shared<ListenerState>();
  std::string why;
  state->trusted = TrustedProxies::parse(config.relay.trusted_proxies, why).value();  // checked with the config
  auto listener = std::make_shared<httpd::Listener>();
  listener->tag = "relay";
  listener->tls = tls;
  // The TLS handshake and the upgrade request (or a page's) count against
  // hello_timeout, and so does taking an answer.
  listener->header_timeout = config.relay.hello_timeout;
  listener->body_timeout = config.relay.hello_timeout;
  listener->header_limit = config.relay.max_header_bytes;
  // A browser loads the apps' page and its files over one connection.
  listener->keep_alive = true;
  listener->headers = web::security_headers();
  listener->pages = web::pages_of(std::move(site));
  listener->routes.push_back(
      httpd::Route("/v1/ws", std::make_shared<WsUpgrade>(relay, config)).open().checked_by(
          [origin = std::move(origin), &relay](const httpd::Request& req) -> std::optional<httpd::Reply> {
            if (origin_allowed(req[http::field::origin], origin)) return std::nullopt;
            relay.metrics().connections_refused("origin");
            return httpd::error_reply(403, "forbidden_origin", "this page may not open the relay's WebSocket");
          }));
  listener->admit = [state, &relay, &config](httpd::Socket& socket) -> std::optional<httpd::AdmissionPtr> {
    if (state->live >= config.relay.max_connections) {
      if (!state->full)
        spdlog::warn("[relay] refusing connections: relay.max_connections ({}) reached", config.relay.max_connections);
      state->full = true;
      relay.metrics().connections_refused("max_connections");
      return std::nullopt;
    }
    if (state->full) spdlog::info("[relay] accepting connections again: below relay.max_connections");
    state->full = false;
    beast::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    if (ec) return std::nullopt;
    std::string source = state->trusted.contains(remote.address()) ? std::string() : limit_key(remote.address());
    if (!source.empty()) {
      auto it = state->unauthenticated.find(source);
      if (it != state->unauthenticated.end() && it->second >= config.relay.max_unauthenticated_per_address) {
        // Debug only: a flood must not turn into a flood of log lines.
        spdlog::debug("[relay] connection refused: relay.max_unauthenticated_per_address reached for one address");
        relay.metrics().connections_refused("per_address");
        return std::nullopt;
      }
    }
    socket.set_option(tcp::no_delay(true), ec);
    return std::make_unique<RelayAdmission>(state, std::move(source));
  };
  co_await httpd::run_listener(acceptor, std::move(listener));
}

}  // namespace tirai::relay
