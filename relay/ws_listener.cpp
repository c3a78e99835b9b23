#include "relay/listeners.hpp"

#include "proto/wipe.hpp"
#include "relay/accept_pause.hpp"
#include "relay/client_address.hpp"
#include "relay/corked_stream.hpp"
#include "relay/slow_peer.hpp"
#include "relay/use_tuple.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>


namespace tirai::relay {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace ssl = asio::ssl;

ssl::context make_tls_context(const Config::Tls& tls) {
  ssl::context ctx(ssl::context::tls_server);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use |
                  ssl::context::no_compression);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  // TLS 1.2: ECDHE with AEAD only; TLS 1.3 suites are all AEAD already.
  SSL_CTX_set_cipher_list(ctx.native_handle(),
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  beast::error_code ec;
  ctx.use_certificate_chain_file(tls.cert.string(), ec);
  if (ec) throw ConfigError(fmt::format("tls.cert: cannot load {}: {}", tls.cert.string(), ec.message()));
  ctx.use_private_key_file(tls.key.string(), ssl::context::pem, ec);
  if (ec) throw ConfigError(fmt::format("tls.key: cannot load {}: {}", tls.key.string(), ec.message()));
  return ctx;
}

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
// What the listener shares with its connections (relay thread only).
struct ListenerState {
  std::size_t live = 0;  // for relay.max_connections
  // Connections not past hello, per limit_key() of their source address.
  std::unordered_map<std::string, std::size_t> unauthenticated;
  TrustedProxies trusted;
};

// Concrete executor types all the way down: with any_io_executor every
// completion copied and destroyed a type-erased executor.
using Executor = asio::io_context::executor_type;
using Socket = tcp::socket::rebind_executor<Executor>::other;
using PlainStream = beast::basic_stream<tcp, Executor>;
using TlsStream = beast::ssl_stream<PlainStream>;

// One WebSocket peer over plain TCP or TLS. It owns itself through its
// pending operations (the handshake coroutine, then one read at a time, and a
// closer coroutine only while closing), so an idle connection is a read and
// this object; the relay only holds it as a Peer* between attach
// and detach, both on the relay thread.
template <typename NextLayer>
class WsConnection final : public Peer, public std::enable_shared_from_this<WsConnection<NextLayer>> {
 public:
  static constexpr bool is_tls = std::is_same_v<NextLayer, TlsStream>;

  // The connection counts in `state` (live, and unauthenticated under
  // `source` unless that is empty) from here until it has said hello, or
  // the last pending operation lets it go.
  template <typename... Tls>
  WsConnection(Socket socket, std::shared_ptr<ListenerState> state, std::string source, Relay& relay,
               const Config& config, Tls&... tls)
      : ws_(std::move(socket), tls...),
        state_(std::move(state)),
        source_(std::move(source)),
        relay_(relay),
        config_(config),
        hello_timer_(ws_.get_executor()) {
    ++state_->live;
    if (!source_.empty()) ++state_->unauthenticated[source_];
  }
  ~WsConnection() override {
    --state_->live;
    stop_counting_unauthenticated();
  }
  WsConnection(const WsConnection&) = delete;
  WsConnection& operator=(const WsConnection&) = delete;

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
    stop_counting_unauthenticated();
  }

  void close(CloseCode code, std::string_view reason) override {
    if (closing_ || finished_) return;
    closing_ = true;
    close_reason_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
    start_writer();
  }

  // The handshakes (TLS, HTTP upgrade) as a coroutine; once the WebSocket is
  // up, the coroutine ends and reading goes on through do_read/on_read. An
  // idle connection then holds one pending read whose handler is a
  // shared_ptr, not a coroutine's frames, which weigh more (see finding 7 of
  // docs/performance.md).
  asio::awaitable<void> run() {
    auto self = this->shared_from_this();
    if constexpr (is_tls) {
      beast::get_lowest_layer(ws_).expires_after(config_.relay.hello_timeout);
      auto [ec] = co_await ws_.next_layer().next_layer().async_handshake(ssl::stream_base::server, use_tuple);
      if (ec) {
        spdlog::debug("[relay] TLS handshake failed: {}", ec.message());
        co_return;
      }
    }
    if (!co_await upgrade()) co_return;
    buffer_.shrink_to_fit();  // the upgrade request's capacity is not needed for small frames

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
    // Before hello succeeded, a frame may carry a secret or a token: its
    // bytes are overwritten before the buffer is reused.
    if (!authenticated) proto::wipe(buffer_.data().data(), buffer_.size());
    buffer_.consume(buffer_.size());
    // A long message's capacity is given back, so it is not kept while idle.
    if (buffer_.capacity() > 4 * read_piece) buffer_.shrink_to_fit();
    const bool bad = std::holds_alternative<proto::FrameError>(frame);
    const bool hello = !authenticated;
    relay_.on_frame(*this, std::move(frame));
    if (hello) proto::wipe_stack_below();
    bad_in_row_ = bad ? bad_in_row_ + 1 : 0;
    if (bad_in_row_ >= max_bad_frames_in_row) close(CloseCode::policy, "too many bad frames");
  }

  void stop_counting_unauthenticated() {
    if (source_.empty()) return;
    auto it = state_->unauthenticated.find(source_);
    if (it != state_->unauthenticated.end() && --it->second == 0) state_->unauthenticated.erase(it);
    source_.clear();
  }

  void finish() {
    finished_ = true;
    hello_timer_.cancel();
    relay_.detach(*this);
  }

  // Reads the HTTP upgrade request and accepts the WebSocket on /v1/ws.
  asio::awaitable<bool> upgrade() {
    auto& lowest = beast::get_lowest_layer(ws_);
    auto& stream = ws_.next_layer();  // the corked layer: reads pass through, writes gather
    lowest.expires_after(config_.relay.hello_timeout);
    http::request_parser<http::empty_body> parser;
    parser.header_limit(8192);
    auto [ec, n] = co_await http::async_read(stream, buffer_, parser, use_tuple);
    if (ec) co_return false;
    auto req = parser.release();
    // The login limits count the client, which a trusted proxy names.
    beast::error_code rec;
    const auto remote = lowest.socket().remote_endpoint(rec);
    if (rec) co_return false;
    address = limit_key(state_->trusted.client_address(remote.address(), req["X-Forwarded-For"],
                                                       req[http::field::forwarded]));
    if (req.target() != "/v1/ws" || !websocket::is_upgrade(req)) {
      http::response<http::string_body> res{req.target() == "/v1/ws" ? http::status::upgrade_required
                                                                     : http::status::not_found,
                                            req.version()};
      res.set(http::field::content_type, "application/json");
      res.body() = req.target() == "/v1/ws" ? R"({"error":"upgrade_required","message":"WebSocket only"})"
                                            : R"({"error":"not_found","message":"the endpoint is /v1/ws"})";
      res.keep_alive(false);
      res.prepare_payload();
      co_await http::async_write(stream, res, use_tuple);
      co_await stream.async_drain(use_tuple);
      if constexpr (is_tls) co_await stream.next_layer().async_shutdown(use_tuple);
      lowest.socket().shutdown(tcp::socket::shutdown_both, ec);
      co_return false;
    }
    lowest.expires_never();
    websocket::stream_base::timeout t{};
    t.handshake_timeout = ws_handshake_timeout;
    t.idle_timeout = config_.relay.idle_timeout;
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "tirai"); }));
    ws_.read_message_max(config_.relay.max_frame_bytes);
    auto [aec] = co_await ws_.async_accept(req, use_tuple);
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
  std::shared_ptr<ListenerState> state_;
  std::string source_;
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

template <typename Conn>
void spawn_connection(std::shared_ptr<Conn> conn, tcp::acceptor& acceptor) {
  asio::co_spawn(acceptor.get_executor(), conn->run(), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("[relay] connection ended by an error: {}", ex.what());
    }
  });
}

}  // namespace

asio::awaitable<void> run_ws_listener(tcp::acceptor& acceptor, Relay& relay, const Config& config,
                                      ssl::context* tls) {
  auto state = std::make_shared<ListenerState>();
  std::string why;
  state->trusted = TrustedProxies::parse(config.relay.trusted_proxies, why).value();  // checked with the config
  const auto* ex = acceptor.get_executor().target<Executor>();
  if (!ex) throw std::logic_error("the relay listener runs on an io_context");
  AcceptPause pause(acceptor.get_executor(), "relay");
  bool full = false;  // at relay.max_connections: said once until below it again
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(*ex, use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      co_await pause.failed(ec);
      continue;
    }
    pause.accepted();
    if (state->live >= config.relay.max_connections) {
      if (!full) spdlog::warn("[relay] refusing connections: relay.max_connections ({}) reached", config.relay.max_connections);
      full = true;
      relay.metrics().connections_refused("max_connections");
      continue;  // the socket closes as it goes out of scope
    }
    if (full) spdlog::info("[relay] accepting connections again: below relay.max_connections");
    full = false;
    const auto remote = socket.remote_endpoint(ec);
    if (ec) continue;
    std::string source = state->trusted.contains(remote.address()) ? std::string() : limit_key(remote.address());
    if (!source.empty()) {
      auto it = state->unauthenticated.find(source);
      if (it != state->unauthenticated.end() && it->second >= config.relay.max_unauthenticated_per_address) {
        // Debug only: a flood must not turn into a flood of log lines.
        spdlog::debug("[relay] connection refused: relay.max_unauthenticated_per_address reached for one address");
        relay.metrics().connections_refused("per_address");
        continue;
      }
    }
    socket.set_option(tcp::no_delay(true), ec);
    if (tls)
      spawn_connection(std::make_shared<WsConnection<TlsStream>>(std::move(socket), state, std::move(source), relay,
                                                                 config, *tls),
                       acceptor);
    else
      spawn_connection(
          std::make_shared<WsConnection<PlainStream>>(std::move(socket), state, std::move(source), relay, config),
          acceptor);
  }
}

}  // namespace tirai::relay
