#include "relay/daemon/relay_listener.hpp"

#include "proto/wipe.hpp"
#include "relay/http/client_address.hpp"
#include "relay/http/corked_stream.hpp"
#include "relay/http/server.hpp"
#include "relay/http/slow_peer.hpp"
#include "relay/http/ws_frames.hpp"
#include "relay/use_tuple.hpp"
#include "relay/web/pages.hpp"

#include <boost/intrusive/list.hpp>

#include <algorithm>
#include <span>

namespace tirai::relay {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using httpd::PlainStream;
using httpd::TlsStream;

namespace {

constexpr int max_bad_frames_in_row = 10;

// How long a closing handshake may take: our close frame out and the peer's
// back, then the TCP (or TLS) teardown. A peer that never answers must not
// keep its connection open; ten seconds leaves a slow mobile link ample time
// for one small frame each way.
constexpr std::chrono::seconds close_timeout{10};

// Plain connections read into one buffer of the listener's, in turn (the
// relay thread is the only reader): an idle connection keeps none.
constexpr std::size_t read_buffer_bytes = 64 * 1024;
// A connection whose client sends without pause gives the others a turn
// after this many full reads.
constexpr int reads_per_turn = 4;

// relay.idle_timeout is kept by a sweep of all connections, not a timer each
// (memory per idle connection): the sweep runs sweep_ticks times per
// idle_timeout; a connection heard of in none of the last ping_ticks sweeps
// is pinged, and one heard of in none of the last sweep_ticks is closed.
constexpr std::uint32_t sweep_ticks = 8;
constexpr std::uint32_t ping_ticks = 4;

namespace bi = boost::intrusive;

// What the idle sweep sees of a connection.
class Swept : public Peer, public bi::list_base_hook<bi::link_mode<bi::auto_unlink>> {
 public:
  // `tick` is the sweep's count since the listener began.
  virtual void sweep(std::uint32_t tick) = 0;
};
using SweptList = bi::list<Swept, bi::constant_time_size<false>>;

// What the relay port's admission hook shares with its connections (relay
// thread only).
struct ListenerState {
  std::size_t live = 0;  // for relay.max_connections
  bool full = false;     // at relay.max_connections: said once until below it again
  // Connections not past hello, per limit_key() of their source address.
  std::unordered_map<std::string, std::size_t> unauthenticated;
  TrustedProxies trusted;
  std::vector<char> read_buffer = std::vector<char>(read_buffer_bytes);
  SweptList connections;  // the WebSocket ones, for the idle sweep
  std::uint32_t tick = 0;
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
    std::string().swap(source_);
  }
  ListenerState& state() const { return *state_; }

 private:
  std::shared_ptr<ListenerState> state_;
  std::string source_;
};

// The 101 that completes a WebSocket handshake checked by upgrade_refusal().
std::string switching_protocols(std::string_view key) {
  return "HTTP/1.1 101 Switching Protocols\r\nServer: tirai\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: " +
         ws::accept_key(key) + "\r\n\r\n";
}

// One WebSocket peer over plain TCP (a bare socket) or TLS, framed by the
// relay itself (ws_frames.hpp). It owns itself through its pending
// operations: one read (or, plain, one wait for the socket to be readable)
// at a time, the deadline timer's wait while one is armed, and the corked
// writer's drain while closing. An idle, logged-in connection is this
// object, its socket's wait and the writer's state. The relay only holds it
// as a Peer* between attach and detach, both on the relay thread.
template <typename NextLayer>
class WsConnection final : public Swept, public std::enable_shared_from_this<WsConnection<NextLayer>> {
  static constexpr bool plain = std::is_same_v<NextLayer, httpd::Socket>;

 public:
  // The connection keeps counting in its admission until it ends.
  WsConnection(NextLayer stream, std::unique_ptr<RelayAdmission> admission, Relay& relay, const Config& config)
      : cork_(std::move(stream)),
        admission_(std::move(admission)),
        relay_(relay),
        config_(config),
        reader_(config.relay.max_frame_bytes) {}
  WsConnection(const WsConnection&) = delete;
  WsConnection& operator=(const WsConnection&) = delete;
  ~WsConnection() override {
    if (tls_in_) proto::wipe(tls_in_.get(), tls_in_bytes);
  }

  auto get_executor() { return cork_.get_executor(); }

  // Answers the upgrade request (checked by upgrade_refusal()), attaches to
  // the relay and starts reading. The request is not kept.
  void start(const httpd::Request& head) {
    beast::error_code ec;
    const auto remote = socket().remote_endpoint(ec);
    if (ec) return;
    // The login limits count the client, which a trusted proxy names in the request.
    address = limit_key(admission_->state().trusted.client_address(remote.address(), head["X-Forwarded-For"],
                                                                   head[http::field::forwarded]));
    cork_.write_now(switching_protocols(head[http::field::sec_websocket_key]), {});
    auto& state = admission_->state();
    state.connections.push_back(*this);
    heard_ = state.tick;
    relay_.attach(*this);
    arm(config_.relay.hello_timeout);
    if constexpr (plain) socket().non_blocking(true, ec);
    // The first read is tried on the next turn, not waited for: the reactor
    // reports readiness by its edges, and one that came before the first
    // wait would not come again.
    asio::post(get_executor(), [self = this->shared_from_this()] {
      if constexpr (plain) self->on_readable({});
      else self->read_tls();
    });
  }

  // Frames go straight into the corked writer (a text frame from the server
  // is its header and the payload, unmasked: RFC 6455 §5.2): no write
  // operation per frame, and everything delivered in one turn of the loop
  // (a store group's worth) leaves in one write.
  void deliver(std::string_view frame) override {
    if (phase_ != Phase::open) return;
    // Slow is a socket that stopped taking bytes, not a burst.
    // (The clock is read only when a write is under way.)
    const auto writing_for = cork_.writing() ? cork_.writing_for(std::chrono::steady_clock::now()) : std::nullopt;
    if (too_slow({cork_.writes_waiting(), cork_.buffered(), writing_for}, config_.relay.max_outbound_frames)) {
      // Everything queued is durable; the peer gets it again when it reconnects.
      relay_.metrics().slow_peers->Increment();
      close(CloseCode::try_again_later, "peer too slow");
      return;
    }
    send(ws::Opcode::text, frame);
  }

  // Once authenticated, the hello deadline is let go (memory per idle
  // connection), and the connection no longer counts against its address's
  // unauthenticated connections.
  void logged_in() override {
    if (phase_ == Phase::open) timer_.reset();  // a close under way keeps its deadline
    admission_->authenticated();
  }

  // Sends the close frame behind whatever frames are queued, then reads on
  // until the peer's close frame comes back (or close_timeout passes).
  void close(CloseCode code, std::string_view reason) override {
    if (phase_ != Phase::open) return;
    phase_ = Phase::closing;
    cork_.write_now(ws::close_frame(static_cast<std::uint16_t>(code), reason), {});
    arm(close_timeout);
  }

  void sweep(std::uint32_t tick) override {
    if (phase_ != Phase::open) return;  // closing has its own deadline
    const std::uint32_t quiet = tick - heard_;
    if (quiet >= sweep_ticks) return finish();  // no ping was answered
    if (quiet >= ping_ticks && !pinged_) {
      pinged_ = true;
      send(ws::Opcode::ping, {});
    }
  }

 private:
  // open: frames go both ways; closing: our close frame is out, the peer's is
  // awaited; tearing_down: the close handshake is over (or failed), the
  // connection ends once the writer drained and the transport shut down.
  enum class Phase : std::uint8_t { open, closing, tearing_down };
  static constexpr std::size_t tls_in_bytes = 4096;

  auto& socket() {
    if constexpr (plain) return cork_.next_layer();
    else return beast::get_lowest_layer(cork_.next_layer()).socket();
  }

  void send(ws::Opcode op, std::string_view payload) {
    char header[10];
    cork_.write_now(std::string_view(header, ws::frame_header(op, payload.size(), header)), payload);
  }

  // Plain: the socket is readable; what it has is read into the listener's
  // buffer until it has no more.
  void on_readable(beast::error_code ec) {
    if (ec || finished_) return finish();
    auto& buffer = admission_->state().read_buffer;
    for (int i = 0; i < reads_per_turn; ++i) {
      const std::size_t n = socket().read_some(asio::buffer(buffer), ec);
      if (ec == asio::error::would_block) return wait_readable();
      if (ec) return finish();
      if (!take(std::span<char>(buffer.data(), n))) return;
      // A short read took all the socket had: the next bytes are a new edge.
      if (n < buffer.size()) return wait_readable();
    }
    asio::post(get_executor(), [self = this->shared_from_this()] { self->on_readable({}); });
  }

  void wait_readable() {
    socket().async_wait(asio::socket_base::wait_read,
                        [self = this->shared_from_this()](beast::error_code ec) { self->on_readable(ec); });
  }

  // TLS: one read at a time into the connection's own buffer (the TLS
  // stream writes into it as the read completes, so it cannot be shared).
  void read_tls() {
    if constexpr (!plain) {
      if (!tls_in_) tls_in_ = std::make_unique<char[]>(tls_in_bytes);
      cork_.next_layer().async_read_some(
          asio::buffer(tls_in_.get(), tls_in_bytes),
          [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
            if (ec || self->finished_) return self->finish();
            if (self->take(std::span<char>(self->tls_in_.get(), n))) self->read_tls();
          });
    }
  }

  // The frames in bytes just read; false once reading is over.
  bool take(std::span<char> bytes) {
    heard_ = admission_->state().tick;
    pinged_ = false;
    for (;;) {
      const auto step = reader_.next(bytes);
      if (step.kind == ws::Step::Kind::more) break;
      if (step.kind == ws::Step::Kind::fail) {
        proto::wipe(bytes.data(), bytes.size());  // what came after the fault is not read
        fail(step.fail);
        break;
      }
      on_input(step.input);
      if (finished_) return false;
    }
    // TLS shuts down once the close handshake is over, with no read pending;
    // plain reads on (and throws away) until the peer's end.
    return !finished_ && (plain || phase_ != Phase::tearing_down);
  }

  void on_input(const ws::Input& in) {
    using Kind = ws::Input::Kind;
    if (in.kind == Kind::close) {
      // The peer's close: answered with its code (RFC 6455 §5.5.1), unless
      // ours went first.
      if (phase_ == Phase::open) cork_.write_now(ws::close_frame(in.code, {}), {});
      return teardown();
    }
    if (phase_ != Phase::open) {
      // Closing: what still comes is not read; a secret in it is wiped.
      proto::wipe(in.payload.data(), in.payload.size());
      return;
    }
    switch (in.kind) {
      case Kind::ping:
        return send(ws::Opcode::pong, std::string_view(in.payload.data(), in.payload.size()));
      case Kind::pong:
        return;
      case Kind::binary:
        proto::wipe(in.payload.data(), in.payload.size());
        return on_frame(proto::Inbound(proto::FrameError{proto::ErrorCode::bad_request, "binary frames are not accepted", {}}),
                        true);
      default:
        break;
    }
    const std::string_view text(in.payload.data(), in.payload.size());
    proto::Inbound frame = proto::parse_frame(text, proto::Limits{config_.relay.max_text_chars});
    // Before hello succeeded, a frame may carry a secret or a token, and so
    // does a delete_account (a malformed one too, so every refused frame):
    // its bytes are overwritten where they lie.
    const bool secretive = !authenticated || proto::carries_secret(frame) ||
                           std::holds_alternative<proto::FrameError>(frame);
    if (secretive) proto::wipe(in.payload.data(), in.payload.size());
    on_frame(std::move(frame), secretive);
  }

  void on_frame(proto::Inbound&& frame, bool secretive) {
    const bool bad = std::holds_alternative<proto::FrameError>(frame);
    try {
      relay_.on_frame(*this, std::move(frame));
    } catch (const std::exception& e) {
      // A broken invariant ends this connection, not the relay.
      spdlog::error("[relay] connection ended by an error: {}", e.what());
      return finish();
    }
    if (secretive) proto::wipe_stack_below();
    bad_in_row_ = bad ? bad_in_row_ + 1 : 0;
    if (bad_in_row_ >= max_bad_frames_in_row) close(CloseCode::policy, "too many bad frames");
  }

  // A frame broke the protocol: the close frame says why, and the
  // connection ends without waiting for the peer's.
  void fail(std::uint16_t code) {
    if (phase_ == Phase::open) cork_.write_now(ws::close_frame(code, {}), {});
    teardown();
  }

  // The close handshake is over: what is queued goes out, then the
  // transport is shut down (plain: our side, then the peer's end is read, so
  // that no unread byte turns our close into a reset).
  void teardown() {
    if (phase_ == Phase::tearing_down) return;
    phase_ = Phase::tearing_down;
    arm(close_timeout);
    cork_.async_drain([self = this->shared_from_this()](beast::error_code) {
      if (self->finished_) return;
      if constexpr (plain) {
        beast::error_code ignored;
        self->socket().shutdown(asio::socket_base::shutdown_send, ignored);
      } else {
        self->cork_.next_layer().async_shutdown([self](beast::error_code) { self->finish(); });
      }
    });
  }

  // The deadline in use: the hello's, then the close handshake's.
  // A wait whose completion was already queued when the timer was armed
  // again runs without an error: its generation tells it is stale.
  void arm(std::chrono::steady_clock::duration after) {
    if (!timer_) timer_ = std::make_unique<asio::steady_timer>(get_executor());
    timer_->expires_after(after);
    timer_->async_wait([weak = this->weak_from_this(), armed = ++armed_](beast::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->finished_ || armed != self->armed_) return;
      if (self->phase_ != Phase::open) return self->finish();
      if (!self->authenticated) self->close(CloseCode::policy, "hello timeout");
    });
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    timer_.reset();
    unlink();
    relay_.detach(*this);
    beast::error_code ignored;
    socket().close(ignored);
    // A write still under way completes (aborted) through the stream: TLS's
    // touches it then, so the connection outlives it.
    if (cork_.writing()) cork_.async_drain([self = this->shared_from_this()](beast::error_code) {});
  }

  CorkedStream<NextLayer> cork_;
  std::unique_ptr<RelayAdmission> admission_;
  Relay& relay_;
  const Config& config_;
  ws::Reader reader_;
  std::unique_ptr<asio::steady_timer> timer_;  // only while a deadline is armed
  std::unique_ptr<char[]> tls_in_;             // TLS only
  std::uint32_t heard_ = 0;                    // the sweep's tick when bytes last came
  std::uint32_t armed_ = 0;                    // the deadline's generation
  int bad_in_row_ = 0;
  Phase phase_ = Phase::open;
  bool pinged_ = false;
  bool finished_ = false;
};

// The /v1/ws row of the relay port: the connection becomes a WebSocket peer.
class WsUpgrade final : public httpd::Upgrade {
 public:
  WsUpgrade(Relay& relay, const Config& config) : relay_(relay), config_(config) {}
  // A plain connection goes on as its bare socket: the HTTP front's
  // deadlines (basic_stream's) are the relay's own from here on.
  void take(PlainStream stream, httpd::Request head, httpd::AdmissionPtr admission) override {
    std::make_shared<WsConnection<httpd::Socket>>(stream.release_socket(), own(std::move(admission)), relay_, config_)
        ->start(head);
  }
  void take(TlsStream stream, httpd::Request head, httpd::AdmissionPtr admission) override {
    std::make_shared<WsConnection<TlsStream>>(std::move(stream), own(std::move(admission)), relay_, config_)
        ->start(head);
  }

 private:
  // Every connection of the relay port was admitted by its hook below.
  static std::unique_ptr<RelayAdmission> own(httpd::AdmissionPtr a) {
    return std::unique_ptr<RelayAdmission>(static_cast<RelayAdmission*>(a.release()));
  }

  Relay& relay_;
  const Config& config_;
};

// Ends connections that went quiet for relay.idle_timeout (pinged half-way),
// for as long as the listener's state lives.
asio::awaitable<void> sweep_idle(std::shared_ptr<ListenerState> state, std::chrono::milliseconds idle_timeout) {
  if (idle_timeout.count() == 0) co_return;  // none
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto period = std::max<std::chrono::milliseconds>(idle_timeout / sweep_ticks, std::chrono::milliseconds(10));
  for (;;) {
    timer.expires_after(period);
    auto [ec] = co_await timer.async_wait(use_tuple);
    if (ec) co_return;
    ++state->tick;
    // A connection the sweep ends leaves the list; only itself.
    for (auto it = state->connections.begin(); it != state->connections.end();) (it++)->sweep(state->tick);
  }
}

// Why a WebSocket upgrade request cannot be answered with a 101, if it
// cannot (RFC 6455 §4.2.1): the version (426, naming the one spoken) or the key.
std::optional<httpd::Reply> upgrade_refusal(const httpd::Request& req) {
  if (req[http::field::sec_websocket_version] != "13") {
    auto reply = httpd::error_reply(426, "upgrade_required", "this endpoint speaks WebSocket version 13");
    reply.headers.emplace_back("Sec-WebSocket-Version", "13");
    return reply;
  }
  if (!ws::valid_key(req[http::field::sec_websocket_key]))
    return httpd::error_reply(400, "bad_request", "the Sec-WebSocket-Key is missing or malformed");
  return std::nullopt;
}

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
            if (!origin_allowed(req[http::field::origin], origin)) {
              relay.metrics().connections_refused("origin");
              return httpd::error_reply(403, "forbidden_origin", "this page may not open the relay's WebSocket");
            }
            return upgrade_refusal(req);
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
  asio::co_spawn(acceptor.get_executor(), sweep_idle(state, config.relay.idle_timeout), asio::detached);
  co_await httpd::run_listener(acceptor, std::move(listener));
}

}  // namespace tirai::relay
