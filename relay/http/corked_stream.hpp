#pragma once
// A stream layer that gathers writes and hands them to the layer below in one
// write: a frame written with its own write would be a system call (and,
// over TLS, a record) per frame under load. write_now() takes bytes into a
// buffer at once, without an asynchronous operation; what gathered goes down
// in one write on the next turn of the event loop. Order is kept: bytes
// leave in the order they were written. The WebSocket connection
// (WsConnection) frames its messages itself and is the only writer.
//
// Back-pressure is the writer's: buffered(), writes_waiting() and writing_for()
// tell how much waits and for how long, and async_drain() waits until all of
// it was handed over.
#include "proto/wipe.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tirai::relay {

template <typename Next>
class CorkedStream {
 public:
  using next_layer_type = Next;
  using executor_type = typename Next::executor_type;

  template <typename... Args>
  explicit CorkedStream(Args&&... args) : next_(std::forward<Args>(args)...), state_(std::make_shared<State>()) {
    state_->next = &next_;
  }
  ~CorkedStream() { state_->next = nullptr; }
  CorkedStream(const CorkedStream&) = delete;
  CorkedStream& operator=(const CorkedStream&) = delete;

  executor_type get_executor() noexcept { return next_.get_executor(); }
  Next& next_layer() noexcept { return next_; }
  const Next& next_layer() const noexcept { return next_; }

  // Takes `a` then `b` as one write, at once.
  void write_now(std::string_view a, std::string_view b) {
    if (state_->failed) return;
    make_room(*state_, a.size() + b.size());
    state_->pending.append(a).append(b);
    ++state_->writes_waiting;
    schedule(state_);
  }
  // Writes taken since the write now under way began.
  std::size_t writes_waiting() const { return state_->writes_waiting; }
  // Whether a write to the layer below is under way.
  bool writing() const { return state_->writing; }
  // How long the write to the layer below has been under way at `now`;
  // none when no write is.
  std::optional<std::chrono::steady_clock::duration> writing_for(std::chrono::steady_clock::time_point now) const {
    if (!state_->writing) return std::nullopt;
    return now - state_->write_started;
  }

  // Bytes written but not yet handed to the layer below.
  std::size_t buffered() const { return state_->pending.size() + state_->flushing.size(); }

  // Completes when nothing is buffered any more (or the layer below failed).
  // The wait is a timer's, so that a wait still pending when the event loop
  // shuts down is destroyed with the loop's other operations.
  template <typename Token>
  auto async_drain(Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::beast::error_code)>(
        [this](auto handler) {
          auto ex = boost::asio::get_associated_executor(handler, next_.get_executor());
          if (state_->failed || buffered() == 0) {
            boost::asio::post(ex, boost::beast::bind_front_handler(std::move(handler), state_->failed));
            return;
          }
          if (!state_->drained)
            state_->drained = std::make_unique<boost::asio::steady_timer>(next_.get_executor(),
                                                                          boost::asio::steady_timer::time_point::max());
          state_->drained->async_wait(
              [st = std::weak_ptr<State>(state_), h = std::move(handler)](boost::beast::error_code) mutable {
                const auto s = st.lock();
                std::move(h)(s ? s->failed : boost::beast::error_code(boost::asio::error::operation_aborted));
              });
          flush(state_);
        },
        token);
  }

 private:
  struct State {
    Next* next = nullptr;  // null once the stream is gone
    std::string pending;   // written, waiting for the next flush
    std::string flushing;  // handed to the layer below, not yet complete
    std::size_t writes_waiting = 0;
    std::size_t last_write = 0;  // bytes the last write to the layer below carried
    std::chrono::steady_clock::time_point write_started;
    bool writing = false;
    bool scheduled = false;
    boost::beast::error_code failed;
    std::unique_ptr<boost::asio::steady_timer> drained;  // its waits end when all is handed over
    ~State() {
      drop(pending);
      drop(flushing);
    }
  };

  // The frames may carry a secret (the welcome's resume ticket): a buffer is
  // wiped before it is freed or reused.
  static void drop(std::string& s) {
    proto::wipe(s);
    std::string().swap(s);
  }

  // A buffer that must grow takes at once what the last write carried: a
  // busy connection fills its buffer with one allocation, not one per
  // doubling, and a quiet one still keeps no buffer between writes.
  static void make_room(State& st, std::size_t n) {
    const auto need = st.pending.size() + n;
    if (need <= st.pending.capacity()) return;
    std::string grown;
    grown.reserve(std::max({need, 2 * st.pending.capacity(), std::min(st.last_write, keep_limit)}));
    grown.append(st.pending);
    drop(st.pending);
    st.pending.swap(grown);
  }
  static constexpr std::size_t keep_limit = 64 * 1024;

  // A write goes down on the next turn of the loop, with whatever else was
  // written by then.
  static void schedule(const std::shared_ptr<State>& st) {
    if (st->scheduled || st->writing || !st->next) return;
    st->scheduled = true;
    boost::asio::post(st->next->get_executor(), [st] {
      st->scheduled = false;
      flush(st);
    });
  }

  static void flush(const std::shared_ptr<State>& st) {
    if (st->writing || !st->next) return;
    if (st->pending.empty() || st->failed) return notify(st);
    st->writing = true;
    st->writes_waiting = 0;
    st->write_started = std::chrono::steady_clock::now();
    st->last_write = st->pending.size();
    std::swap(st->pending, st->flushing);
    boost::asio::async_write(*st->next, boost::asio::buffer(st->flushing),
                             [st](boost::beast::error_code ec, std::size_t) {
                               st->writing = false;
                               // A quiet connection keeps one small buffer, not a burst's two.
                               if (st->pending.empty() || st->flushing.capacity() > keep_limit) {
                                 drop(st->flushing);
                               } else {
                                 proto::wipe(st->flushing.data(), st->flushing.size());
                                 st->flushing.clear();
                               }
                               if (ec && !st->failed) st->failed = ec;
                               if (st->next) flush(st);
                             });
  }

  static void notify(const std::shared_ptr<State>& st) {
    if (!st->drained || (!st->failed && !st->pending.empty())) return;
    st->drained->cancel();
  }

  Next next_;
  std::shared_ptr<State> state_;
};

}  // namespace tirai::relay
