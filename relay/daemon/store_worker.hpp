#pragma once
#include "relay/core/metrics.hpp"
#include "relay/core/runner.hpp"
#include "store/database.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tirai::relay {

// Posts a callable to the relay thread.
using Poster = std::function<void(std::function<void()>)>;

// WAL lengths, in frames, at which the store worker acts (see
// StoreWorker::checkpoint_in_background), and how soon a cleared body's old
// images must leave the WAL; tests change them.
struct WalFrames {
  int background = 1000;   // ask the checkpointer for a pass each this many
  int restart = 16000;     // a pass that copied this many whole lets the WAL start over
  int restart_slack = 256; // ... if at most this many came since
  int store = 48000;       // the store thread copies what is left itself
  std::chrono::milliseconds clear_flush_within{1000};  // StoreWorker::note_cleared
};

// The one thread that owns the Store. Jobs are grouped: everything queued
// when the thread wakes runs in one transaction, the group commits once, and
// only then are the jobs' `done`s posted back, in order. This is what lets
// `accepted` mean "durably stored" at the cost of one commit per group. One
// failing job undoes only itself: the group then runs again with a savepoint
// per job. A job may therefore run twice, and must set its results rather
// than add to them.
class StoreWorker final : public StoreRunner {
 public:
  // `clear_settle`: how long an acked body waits before it is cleared (see
  // clear_acked below).
  StoreWorker(std::unique_ptr<store::Store> store, Poster post, Metrics& metrics, std::size_t max_group = 4096,
              std::chrono::milliseconds clear_settle = std::chrono::milliseconds(250), WalFrames wal = {});

  // From now on a job queued for a sleeping worker does not wake it; the
  // relay thread calls wake() when it has run a batch of handlers or has
  // nothing more to run. The jobs of a whole pass over the ready sockets
  // then form one group and one commit, where a worker woken by the first
  // job of the pass (and, on one core, preempting the relay thread) commits
  // groups of a few jobs. Set before the first submit.
  void defer_wakes() { defer_wake_ = true; }
  // Wakes the worker if jobs came for it while it slept (deferred wakes).
  void wake() {
    if (unwoken_.exchange(false, std::memory_order_acq_rel)) wake_.notify_one();
  }
  // The relay thread's end of a batch of handlers, in place of wake(): when
  // the worker sleeps and at most `max_jobs` wait, they run here, on the
  // calling thread, as a group of their own (one transaction and commit,
  // the same as on the worker), and their dones right after, here too;
  // otherwise the worker is woken. Below saturation a message is then one
  // wake-up of the relay thread and nothing more: handing it to a sleeping
  // worker and back cost two more context switches and the futex and epoll
  // calls around them, about a quarter of the server's CPU per message at
  // 10k msg/s on one core, and most of the p99 (docs/performance.md,
  // finding 34). Bigger groups still go to the worker: under full load it
  // commits on a core of its own while this thread reads.
  void end_of_batch(std::size_t max_jobs = 64);
  // Whether the worker waits for jobs, so that end_of_batch would run them
  // on the calling thread (for tests).
  bool sleeping();
  ~StoreWorker() override;

  void start();
  // Runs every job already queued, then stops the thread. Idempotent.
  void stop();
  void submit(Job job, Done done) override;
  // Called on the worker's thread after each WAL checkpoint (set before start()).
  void on_checkpoint(std::function<void()> f) { on_checkpoint_ = std::move(f); }
  // Called on the checkpointer's thread after each of its passes with the
  // WAL's length and the frames copied (set before start()).
  void on_background_checkpoint(std::function<void(int, int)> f) { on_background_checkpoint_ = std::move(f); }

 private:
  void loop();
  // Runs a group (on whichever thread holds the store) and what follows
  // it: the checkpoint it makes due, the WAL cut, the metrics. Returns each
  // job's error.
  std::vector<std::exception_ptr> commit_group(std::vector<std::pair<Job, Done>>& group);
  // Checkpoints and truncates the WAL; false when it could not (try later).
  bool checkpoint();
  // Teardowns' checkpoints within this long of the last one wait for it.
  static constexpr std::chrono::seconds checkpoint_every{1};
  // A cleared body must not stay readable in the WAL: the frames written
  // before its clear hold its page as it was, sealed body included, and the
  // master key opens it (docs/privacy.md). Within wal_.clear_flush_within of a
  // clear, the WAL file keeps no frame older than it, in one of two ways:
  // - Under load the WAL starts over every fraction of a second (the
  //   checkpointer's passes copy it whole: restart_wanted_ while cleared
  //   bodies wait): the commit that starts it over writes from the file's
  //   start, and from then on the frames past its end are older than the
  //   restart. The write-back thread cuts them off (trim_wal): from the
  //   file's end down to the WAL's own frames, in steps of trim_step frames
  //   between the store's transactions (wal_end_mutex_). SQLite could cut
  //   them itself in that commit (journal_size_limit = 0), but freeing the
  //   blocks of a WAL of a few thousand frames took 2-10 ms on ext4, with
  //   every message waiting (finding 36 of docs/performance.md).
  // - When it has not started over a second after the first clear not yet
  //   flushed (a light load), or the cut has not come, a truncating
  //   checkpoint as a teardown's (the two share it), which then has little
  //   to copy.
  void note_cleared(std::size_t bodies);
  bool flush_due(std::chrono::steady_clock::time_point now) const {
    const auto oldest = trim_oldest_clear_.load(std::memory_order_relaxed);
    return (cleared_in_wal_ > 0 && now - cleared_at_ >= wal_.clear_flush_within) ||
           (oldest != 0 && now - std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(oldest)) >=
                               wal_.clear_flush_within);
  }
  // Cuts the WAL file down to its own frames (the write-back thread's);
  // `fd` is its own descriptor of the file, open for writing.
  static constexpr int trim_step = 64;
  void trim_wal(int fd);
  // Held by the store's holder across each write transaction and its own
  // checkpoints, and by trim_wal for each step: the WAL's end (wal_frames_)
  // then cannot move, nor SQLite write past it.
  std::mutex wal_end_mutex_;
  // Under wal_end_mutex_: whether the WAL's length is known (a commit has
  // told it; a WAL left by an earlier run is never cut before that), the
  // WAL's bytes per frame, and the bodies cleared before the last restart
  // that wait for trim_wal, with the first clear's time (steady clock ticks,
  // 0 for none; read unlocked by flush_due).
  bool wal_frames_known_ = false;
  std::int64_t frame_bytes_ = 0;
  std::size_t trim_bodies_ = 0;
  std::atomic<std::chrono::steady_clock::rep> trim_oldest_clear_{0};
  // SQLite syncs the WAL before each checkpoint, on this (the store) thread,
  // and a WAL of many dirty megabytes keeps every message waiting for that
  // sync (finding 15 of docs/performance.md). A second thread asks the
  // kernel every writeback_every to start writing the WAL's new pages out
  // (sync_file_range, which can itself block when the disk is busy, so not
  // on this thread), and the sync finds little left to do.
  static constexpr std::chrono::milliseconds writeback_every{20};
  void write_back(const std::filesystem::path& wal);
  // The WAL is copied into the database by a thread of its own, on a
  // connection of its own, with passive checkpoints that never stop the
  // store's thread from committing. SQLite's automatic checkpoint runs inside
  // the COMMIT of whichever group crosses its threshold: the messages of that
  // group and those queued behind it would wait for the copy and two syncs
  // (findings 19 and 20 of docs/performance.md). The store thread asks for a
  // pass every WalFrames::background (at most one per background_every). The
  // WAL starts over only when a commit begins with all of it copied, which a
  // pass running beside a steady stream of commits never sees: so once a
  // pass has copied WalFrames::restart, the store thread's next commit
  // copies the few frames written since then itself, and the commit after it
  // starts the WAL over. Past WalFrames::store (the checkpointer fell behind) it copies
  // whatever is left.
  static constexpr std::chrono::milliseconds background_every{100};

  void checkpoint_in_background();
  void wal_committed(int frames);
  // Bodies of acknowledged messages are cleared (Store::clear_acked) off the
  // messages' path. A group clears some after its own jobs, in its
  // transaction: chunks of group_clear_chunk rows for as long as its jobs
  // took (so a saturated store still clears as fast as peers ack). An idle
  // worker clears idle_clear_chunk rows per transaction, clear_pause apart:
  // a burst of acks (every peer acking a few dozen messages within the same
  // few milliseconds is tens of thousands of rows) would otherwise keep the
  // store's thread busy for long, sharing its core with the relay thread and
  // delaying every message (finding 19 of docs/performance.md). Past
  // max_uncleared rows waiting, a group clears down to it whatever the time.
  // A group leaves the rows among the newest clear_spare alone: under load
  // the sessions' acks reach a stretch of rows at different times, and
  // clearing each as its ack came dirtied the same pages in commit after
  // commit (each a WAL frame); a stretch that old is whole, and its pages
  // are written once. An idle worker clears all but those. Nobody clears a
  // body acked less than clear_settle ago: when many peers ack within the
  // same moment (all of them reaching their ack interval together, or a
  // crowd reconnecting), the oldest rows acked first lie one to a page
  // between rows whose acks are still coming, and clearing them then wrote
  // a page per row, and the checkpointer and the commits fought over the
  // core with messages waiting (finding 25 of docs/performance.md).
  // Groups the relay thread commits itself (end_of_batch) do not wake the
  // worker: its idle turns then come only when no group has committed for
  // clear_pause, and it looks again idle_recheck later while groups keep
  // coming (a turn between two of them would hold the store while messages
  // wait, finding 30 of docs/performance.md; under a steady load the
  // groups' own clears keep up, the idle turns take the newest rows after).
  static constexpr std::size_t group_clear_chunk = 16;
  static constexpr std::size_t idle_clear_chunk = 128;
  static constexpr std::chrono::microseconds clear_pause{1000};
  static constexpr std::chrono::milliseconds idle_recheck{10};
  static constexpr std::size_t max_uncleared = 1 << 20;
  void clear_acked(std::chrono::steady_clock::time_point until);

 public:
  static constexpr std::int64_t clear_spare = 16384;

 private:
  // Clears acknowledged bodies in a transaction of its own (idle worker;
  // `all`: everything, when stopping).
  void clear_acked_alone(bool all);
  // Runs the group in one transaction; `isolated`: each job under its own
  // savepoint, its error in `errors`. Without it, returns false (everything
  // rolled back) as soon as a job fails.
  bool run_group(std::vector<std::pair<Job, Done>>& group, std::vector<std::exception_ptr>& errors, bool isolated);

  std::unique_ptr<store::Store> store_;
  Poster post_;
  Metrics& metrics_;
  std::size_t max_group_;
  std::chrono::milliseconds clear_settle_;
  WalFrames wal_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::pair<Job, Done>> queue_;
  bool stopping_ = false;
  bool waiting_ = false;  // the worker sleeps on wake_
  // The relay thread holds the store (end_of_batch); a worker woken
  // meanwhile waits for it, saying so in store_awaited_.
  bool borrowed_ = false;
  bool store_awaited_ = false;
  // Groups of the worker's whose dones are posted to the relay thread and
  // have not run yet (end_of_batch waits for them).
  std::atomic<int> posted_groups_{0};
  // What the sleeping worker waits for besides jobs: its next idle duty
  // (time_point::min() while awake), and a group on the relay thread that
  // brought one sooner (rearm_).
  std::chrono::steady_clock::time_point sleeps_until_ = std::chrono::steady_clock::time_point::min();
  bool rearm_ = false;
  // When the worker's next idle turn is due (the store's holder's).
  std::chrono::steady_clock::time_point idle_deadline() const;
  // When the last group committed, on either thread (steady clock ticks).
  std::atomic<std::chrono::steady_clock::rep> last_group_{0};
  bool defer_wake_ = false;
  std::atomic<bool> unwoken_{false};  // deferred: jobs wait for a sleeping worker
  std::thread thread_;
  std::condition_variable writeback_wake_;
  std::thread writeback_thread_;
  std::function<void()> on_checkpoint_;
  std::function<void(int, int)> on_background_checkpoint_;
  // Held by whoever checkpoints: the checkpointer's passes, the store
  // thread's truncating checkpoints (teardown, erasure).
  std::mutex checkpoint_mutex_;
  // The store's holder keeps the checkpointer's passes off from its own
  // copy of the WAL until the next commit has started the WAL over. A flag
  // under checkpoint_mutex_, not the mutex held across the two commits:
  // they may run on different threads (end_of_batch).
  bool restart_held_ = false;
  std::condition_variable restart_released_;
  // Sets restart_held_ once no pass runs; `wait`: else only if none runs now.
  bool hold_restart(bool wait);
  void release_restart();
  // The store's holder's: its truncating checkpoints, due and last done.
  bool checkpoint_due_ = false, checkpoint_now_ = false;
  std::chrono::steady_clock::time_point last_checkpoint_{};
  std::unique_ptr<store::Database> checkpoint_db_;
  std::thread checkpoint_thread_;
  std::mutex checkpointer_mutex_;
  std::condition_variable checkpointer_wake_;
  bool checkpoint_wanted_ = false;  // under checkpointer_mutex_
  bool checkpointer_stopping_ = false;
  std::atomic<bool> restart_wanted_{false};  // cleared bodies wait: a pass of any length may restart the WAL
  std::atomic<int> restart_copied_{0};  // the WAL's length when a pass copied it whole (WalFrames::restart or more)
  int wal_frames_ = 0;  // the store thread's: the WAL's length at the last commit
  int next_request_;  // ... and the length that asks for the next pass
  // The store thread's: bodies cleared since the WAL last started over, and
  // when the first of them was cleared.
  std::size_t cleared_in_wal_ = 0;
  std::chrono::steady_clock::time_point cleared_at_{};
  // The disk had no room at the last commit: logged once when it fills and
  // once when a commit succeeds again (tirai_store_disk_full).
  bool disk_full_ = false;
  void note_disk(const std::vector<std::exception_ptr>& errors);
  std::chrono::steady_clock::time_point last_request_{};
};

// A small pool for CPU-heavy work (Argon2id) off the relay thread.
class ThreadWorker final : public Worker {
 public:
  ThreadWorker(Poster post, std::size_t threads);
  ~ThreadWorker() override;
  void stop();
  void run(std::function<void()> work, std::function<void()> done) override;

 private:
  Poster post_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::pair<std::function<void()>, std::function<void()>>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace tirai::relay
