#include "relay/daemon/store_worker.hpp"

#include "store/store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <unistd.h>

namespace tirai::relay {

StoreWorker::StoreWorker(std::unique_ptr<store::Store> store, Poster post, Metrics& metrics, std::size_t max_group,
                         std::chrono::milliseconds clear_settle, WalFrames wal)
    : store_(std::move(store)),
      post_(std::move(post)),
      metrics_(metrics),
      max_group_(max_group),
      clear_settle_(clear_settle),
      wal_(wal),
      next_request_(wal.background) {}

StoreWorker::~StoreWorker() { stop(); }

namespace {
void background_priority() { ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19); }
}  // namespace

void StoreWorker::start() {
  auto& db = store_->db();
  checkpoint_db_ = std::make_unique<store::Database>(db.path(), db.synchronous());
  frame_bytes_ = 24 + db.pragma_int("page_size");
  db.on_wal_commit([this](int frames) { wal_committed(frames); });
  thread_ = std::thread([this] { loop(); });
  writeback_thread_ = std::thread([this, wal = db.wal_path()] { write_back(wal); });
  checkpoint_thread_ = std::thread([this] { checkpoint_in_background(); });
}

bool StoreWorker::hold_restart(bool wait) {
  std::unique_lock ck(checkpoint_mutex_, std::defer_lock);
  if (wait) ck.lock();
  else if (!ck.try_lock()) return false;
  restart_held_ = true;
  return true;
}

void StoreWorker::release_restart() {
  {
    std::lock_guard ck(checkpoint_mutex_);
    restart_held_ = false;
  }
  restart_released_.notify_all();
}

void StoreWorker::wal_committed(int frames) {
  // The commit after the store thread's own checkpoint has started the WAL
  // over (no pass of the checkpointer could hold a read mark meanwhile).
  // (Only the store's holder sets the flag, so it may read it unlocked.)
  if (restart_held_) release_restart();
  // A WAL shorter than at the last commit started over at this one (a
  // commit longer than the whole WAL before it goes unseen: the bodies then
  // wait for the checkpoint at clear_flush_within). Once trim_wal has cut
  // the file after this commit's frames, it holds nothing older. (A commit
  // holds wal_end_mutex_.)
  const bool restarted = frames < wal_frames_;
  wal_frames_ = frames;
  wal_frames_known_ = true;
  if (restarted) next_request_ = wal_.background;
  if (restarted && cleared_in_wal_ > 0) {
    trim_bodies_ += cleared_in_wal_;
    if (trim_oldest_clear_.load(std::memory_order_relaxed) == 0)
      trim_oldest_clear_.store(cleared_at_.time_since_epoch().count(), std::memory_order_relaxed);
    cleared_in_wal_ = 0;
  }
  const int copied = restart_copied_.load(std::memory_order_acquire);
  // After a pass copied the WAL whole, this thread copies what came since:
  // at once when that is a few frames; when more came (a steady load
  // commits thousands of frames during a pass, and a pass then never finds
  // the WAL whole) only past wal_.store, whatever the checkpointer did:
  // then waiting for its pass to end (at nice 19 under full load it is
  // nearly always in one).
  const bool forced = frames >= wal_.store;
  if (forced || (copied > 0 && frames - copied <= wal_.restart_slack)) {
    // Held until the next commit. Unless forced, only if the checkpointer
    // is not in a pass (it is doing this already).
    if (!hold_restart(forced)) return;
    restart_copied_.store(0, std::memory_order_relaxed);
    try {
      store_->db().checkpoint_passive();
    } catch (const std::exception& e) {
      spdlog::warn("[store] WAL checkpoint failed: {}", e.what());
    }
    return;
  }
  // Once per wal_.background frames of WAL, and at most once per
  // background_every: each pass syncs both files, and at full load
  // wal_.background frames come many times a second (finding 20 of
  // docs/performance.md).
  // Cleared bodies half-way to clear_flush_within: a pass that copies the
  // WAL whole, however short, lets it start over (and trim_wal cut it), so
  // that the truncating checkpoint at clear_flush_within, which copies on
  // this thread, is seldom needed. Not sooner: each restart costs the
  // store's holder the copy of the frames since the pass and two syncs
  // (~1 ms with the messages waiting); at once, under a steady load, it
  // came every 100 ms (finding 36 of docs/performance.md).
  const auto now = std::chrono::steady_clock::now();
  const bool hurry = cleared_in_wal_ > 0 && now - cleared_at_ >= wal_.clear_flush_within / 2;
  restart_wanted_.store(hurry, std::memory_order_relaxed);
  if (frames < next_request_ && !hurry) return;
  if (now - last_request_ < background_every) return;
  last_request_ = now;
  next_request_ = frames + wal_.background;
  {
    std::lock_guard lock(checkpointer_mutex_);
    checkpoint_wanted_ = true;
  }
  checkpointer_wake_.notify_one();
}

void StoreWorker::checkpoint_in_background() {
  background_priority();
  // SQLite syncs the database file only when a checkpoint copies the WAL
  // whole: the store thread's copy before a WAL restart. That sync then
  // wrote out every page the passes before it had copied, with every message
  // waiting (finding 27 of docs/performance.md). Syncing after each pass
  // here leaves it only the few pages it copies itself.
  const int db_fd = ::open(checkpoint_db_->path().c_str(), O_RDONLY | O_CLOEXEC);
  std::unique_lock lock(checkpointer_mutex_);
  for (;;) {
    checkpointer_wake_.wait(lock, [&] { return checkpointer_stopping_ || checkpoint_wanted_; });
    if (checkpointer_stopping_) break;
    checkpoint_wanted_ = false;
    lock.unlock();
    int log = 0, copied = 0;
    {
      std::unique_lock ck(checkpoint_mutex_);
      restart_released_.wait(ck, [&] { return !restart_held_; });
      try {
        std::tie(log, copied) = checkpoint_db_->checkpoint_passive();
        if (log > 0 && copied >= log && (log >= wal_.restart || restart_wanted_.load(std::memory_order_relaxed)))
          restart_copied_.store(log, std::memory_order_release);
      } catch (const std::exception& e) {
        spdlog::warn("[store] background WAL checkpoint failed: {}", e.what());
      }
    }
    if (copied > 0 && db_fd >= 0) ::fdatasync(db_fd);
    if (on_background_checkpoint_) on_background_checkpoint_(log, copied);
    lock.lock();
  }
  if (db_fd >= 0) ::close(db_fd);
}

void StoreWorker::write_back(const std::filesystem::path& wal) {
  background_priority();
  int fd = -1;
  std::unique_lock lock(mutex_);
  while (!writeback_wake_.wait_for(lock, writeback_every, [&] { return stopping_; })) {
    lock.unlock();
    // SQLite creates the WAL on the first write; until then there is nothing
    // to write out. The WAL is truncated, never replaced, while tiraid runs.
    if (fd < 0) fd = ::open(wal.c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
      ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
      trim_wal(fd);
    }
    lock.lock();
  }
  if (fd >= 0) ::close(fd);
}

void StoreWorker::trim_wal(int fd) {
  for (;;) {
    std::lock_guard lock(wal_end_mutex_);
    if (!wal_frames_known_) return;
    struct stat st {};
    if (::fstat(fd, &st) != 0) return;
    const off_t end = wal_frames_ > 0 ? 32 + static_cast<off_t>(wal_frames_) * frame_bytes_ : 0;
    if (st.st_size <= end) {
      if (trim_bodies_ > 0) {
        spdlog::debug("[store] WAL truncated after clearing {} bodies (cut after it started over)", trim_bodies_);
        trim_bodies_ = 0;
        trim_oldest_clear_.store(0, std::memory_order_relaxed);
      }
      return;
    }
    // Frames past the WAL's end are older than its last restart; a step at
    // a time, so a commit waits for one step at most.
    if (::ftruncate(fd, std::max<off_t>(end, st.st_size - trim_step * frame_bytes_)) != 0) {
      // The truncating checkpoint at clear_flush_within still comes.
      spdlog::warn("[store] cutting the WAL's old frames failed: {}", std::strerror(errno));
      return;
    }
  }
}

void StoreWorker::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  writeback_wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(checkpointer_mutex_);
    checkpointer_stopping_ = true;
  }
  checkpointer_wake_.notify_all();
  if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
  checkpoint_db_.reset();
  if (writeback_thread_.joinable()) writeback_thread_.join();
}

void StoreWorker::submit(Job job, Done done) {
  bool wake;
  {
    std::lock_guard lock(mutex_);
    queue_.emplace_back(std::move(job), std::move(done));
    wake = waiting_;
  }
  // Only a sleeping worker needs the futex call; a busy one takes the whole
  // queue when it finishes its group.
  if (!wake) return;
  if (defer_wake_) unwoken_.store(true, std::memory_order_release);
  else wake_.notify_one();
}

bool StoreWorker::sleeping() {
  std::lock_guard lock(mutex_);
  return waiting_ && !borrowed_;
}

void StoreWorker::end_of_batch(std::size_t max_jobs) {
  std::vector<std::pair<Job, Done>> group;
  {
    std::lock_guard lock(mutex_);
    if (queue_.empty()) return;
    // Not while a group of the worker's has its dones posted but not run:
    // dones are called in the order of their jobs.
    if (waiting_ && !borrowed_ && !stopping_ && queue_.size() <= max_jobs &&
        posted_groups_.load(std::memory_order_relaxed) == 0) {
      borrowed_ = true;
      group.swap(queue_);
      unwoken_.store(false, std::memory_order_relaxed);
    }
  }
  if (group.empty()) {
    wake();
    return;
  }
  const auto errors = commit_group(group);
  // The worker sleeps until its next idle duty; a group here may have
  // brought one sooner (the first acked body, a teardown's checkpoint, a
  // cleared body's cut): then it looks again. Under a steady load its
  // deadline stays ahead and nothing is woken.
  const auto due = idle_deadline();
  bool notify;
  {
    std::lock_guard lock(mutex_);
    borrowed_ = false;
    notify = store_awaited_;
    if (!notify && due < sleeps_until_) notify = rearm_ = true;
  }
  if (notify) wake_.notify_one();
  for (std::size_t i = 0; i < group.size(); ++i)
    if (group[i].second) group[i].second(errors[i]);
}

std::chrono::steady_clock::time_point StoreWorker::idle_deadline() const {
  using Clock = std::chrono::steady_clock;
  // Clear acknowledged bodies clear_pause apart, but none before the first
  // one settles (until then a turn would find nothing to do), and none
  // while the relay thread's groups come (see idle_recheck).
  auto until = Clock::time_point::max();
  if (const auto acked = store_->first_uncleared_acked_at(); acked != until) {
    const auto last_group = Clock::time_point(Clock::duration(last_group_.load(std::memory_order_relaxed)));
    const auto now = Clock::now();
    until = std::max(now + (now - last_group < clear_pause ? idle_recheck : clear_pause), acked + clear_settle_);
  }
  if (checkpoint_due_) until = std::min(until, last_checkpoint_ + checkpoint_every);
  if (cleared_in_wal_ > 0) until = std::min(until, cleared_at_ + wal_.clear_flush_within);
  if (const auto oldest = trim_oldest_clear_.load(std::memory_order_relaxed); oldest != 0)
    until = std::min(until, Clock::time_point(Clock::duration(oldest)) + wal_.clear_flush_within);
  return until;
}

void StoreWorker::loop() {
  std::vector<std::pair<Job, Done>> group;
  using Clock = std::chrono::steady_clock;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      waiting_ = true;
      // The store may be the relay thread's (end_of_batch) since this
      // thread last looked; it reads the store's state once it is back.
      const auto store_back = [&] { return !borrowed_; };
      if (borrowed_) {
        store_awaited_ = true;
        wake_.wait(lock, store_back);
        store_awaited_ = false;
      }
      const auto ready = [&] { return stopping_ || rearm_ || (!queue_.empty() && !borrowed_); };
      const auto until = idle_deadline();
      sleeps_until_ = until;
      if (until != Clock::time_point::max()) wake_.wait_until(lock, until, ready);
      else wake_.wait(lock, ready);
      sleeps_until_ = Clock::time_point::min();
      rearm_ = false;
      // Woken while the relay thread runs a group, or told its idle duty
      // came sooner: look again.
      if (borrowed_ || (queue_.empty() && !stopping_ && Clock::now() < until)) continue;
      waiting_ = false;
      if (queue_.empty()) {
        // Stopping, a pause between clears is over, or a deferred
        // checkpoint's time has come.
        const bool stopping = stopping_;
        lock.unlock();
        const auto last_group = Clock::time_point(Clock::duration(last_group_.load(std::memory_order_relaxed)));
        if (stopping || Clock::now() - last_group >= clear_pause) clear_acked_alone(stopping);
        const auto now = Clock::now();
        // (Stopping: closing the database deletes the WAL.)
        if ((checkpoint_due_ && (stopping || now - last_checkpoint_ >= checkpoint_every)) ||
            (!stopping && flush_due(now))) {
          checkpoint_due_ = !checkpoint();
          last_checkpoint_ = Clock::now();
        }
        if (stopping) {
          if (restart_held_) release_restart();
          return;  // closing the database checkpoints what is left
        }
        continue;
      }
      if (queue_.size() <= max_group_) {
        group.swap(queue_);
      } else {
        group.assign(std::make_move_iterator(queue_.begin()),
                     std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(max_group_)));
        queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(max_group_));
      }
    }
    auto errors = std::make_shared<std::vector<std::exception_ptr>>(commit_group(group));
    auto dones = std::make_shared<std::vector<Done>>();
    dones->reserve(group.size());
    for (auto& [job, done] : group) dones->push_back(std::move(done));
    group.clear();
    posted_groups_.fetch_add(1, std::memory_order_relaxed);
    post_([this, dones, errors] {
      for (std::size_t i = 0; i < dones->size(); ++i)
        if ((*dones)[i]) (*dones)[i]((*errors)[i]);
      posted_groups_.fetch_sub(1, std::memory_order_relaxed);
    });
  }
}

std::vector<std::exception_ptr> StoreWorker::commit_group(std::vector<std::pair<Job, Done>>& group) {
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::exception_ptr> errors(group.size());
  // First, the whole group in one transaction without a savepoint per job
  // (a savepoint copies every page a job touches). If a job fails, the
  // group is rolled back and run again with each job under its own
  // savepoint, so the failing job undoes only itself. Jobs are written to
  // be run twice (they set their results, they do not add to them).
  if (!run_group(group, errors, false)) run_group(group, errors, true);
  note_disk(errors);
  // Teardowns ask for the WAL to be checkpointed and truncated; the
  // requests of one second share one checkpoint (it copies and syncs the
  // whole WAL), an erasure's is done at once.
  if (const auto [requested, now] = store_->take_checkpoint_request(); requested) {
    checkpoint_due_ = true;
    checkpoint_now_ = checkpoint_now_ || now;
  }
  // Cleared bodies the WAL has not lost in clear_flush_within share this
  // checkpoint; one that fails (a reader holds the WAL) is tried again
  // checkpoint_every later, as a teardown's.
  if (const auto now = std::chrono::steady_clock::now();
      (checkpoint_due_ && (checkpoint_now_ || now - last_checkpoint_ >= checkpoint_every)) || flush_due(now)) {
    checkpoint_due_ = !checkpoint();
    checkpoint_now_ = false;
    last_checkpoint_ = std::chrono::steady_clock::now();
  }
  const auto ended = std::chrono::steady_clock::now();
  last_group_.store(ended.time_since_epoch().count(), std::memory_order_relaxed);
  metrics_.store_commit_seconds->Observe(std::chrono::duration<double>(ended - started).count());
  metrics_.store_batch_jobs->Observe(static_cast<double>(group.size()));
  metrics_.store_acked_uncleared->Set(static_cast<double>(store_->acked_uncleared()));
  return errors;
}

namespace {
bool disk_full(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const store::DbError& db) {
    return db.disk_full();
  } catch (...) {
    return false;
  }
}
}  // namespace

void StoreWorker::note_disk(const std::vector<std::exception_ptr>& errors) {
  const bool full = std::any_of(errors.begin(), errors.end(), [](const auto& e) { return e && disk_full(e); });
  const bool stored = std::any_of(errors.begin(), errors.end(), [](const auto& e) { return !e; });
  if (full && !disk_full_) {
    spdlog::error("[store] the disk is full: messages, bookings and other changes are refused (internal) until "
                  "there is room; nothing accepted before is lost");
    disk_full_ = true;
    metrics_.store_disk_full->Set(1);
  } else if (!full && stored && disk_full_) {
    spdlog::info("[store] the disk has room again: changes are stored");
    disk_full_ = false;
    metrics_.store_disk_full->Set(0);
  }
}

bool StoreWorker::checkpoint() {
  try {
    // Holding the restart, this thread already keeps the passes off.
    std::unique_lock ck(checkpoint_mutex_, std::defer_lock);
    if (!restart_held_) ck.lock();
    std::lock_guard end(wal_end_mutex_);
    store_->db().checkpoint_truncate();
    if (const auto bodies = cleared_in_wal_ + trim_bodies_; bodies > 0)
      spdlog::debug("[store] WAL truncated after clearing {} bodies", bodies);
    cleared_in_wal_ = 0;
    trim_bodies_ = 0;
    trim_oldest_clear_.store(0, std::memory_order_relaxed);
    wal_frames_ = 0;
    wal_frames_known_ = true;
    if (on_checkpoint_) on_checkpoint_();
    return true;
  } catch (const std::exception& e) {
    // A reader may hold the WAL; the next turn tries again, the cleared
    // bodies' turn a second later.
    if (disk_full_) spdlog::debug("[store] WAL checkpoint deferred: {}", e.what());
    else spdlog::warn("[store] WAL checkpoint deferred: {}", e.what());
    const auto now = std::chrono::steady_clock::now();
    if (cleared_in_wal_ > 0) cleared_at_ = now;
    std::lock_guard end(wal_end_mutex_);
    if (trim_oldest_clear_.load(std::memory_order_relaxed) != 0)
      trim_oldest_clear_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    return false;
  }
}

void StoreWorker::note_cleared(std::size_t bodies) {
  if (bodies == 0) return;
  if (cleared_in_wal_ == 0) cleared_at_ = std::chrono::steady_clock::now();
  cleared_in_wal_ += bodies;
}

void StoreWorker::clear_acked(std::chrono::steady_clock::time_point until) {
  for (;;) {
    const bool behind = store_->acked_uncleared() > max_uncleared;
    const auto settled = behind ? std::chrono::steady_clock::time_point::max() : std::chrono::steady_clock::now() - clear_settle_;
    const auto n = store_->clear_acked(group_clear_chunk, behind ? 0 : clear_spare, settled);
    note_cleared(n);
    if (n < group_clear_chunk) return;
    if (!behind && std::chrono::steady_clock::now() >= until) return;
  }
}

void StoreWorker::clear_acked_alone(bool all) {
  if (store_->acked_uncleared() == 0) return;
  try {
    std::lock_guard end(wal_end_mutex_);
    store::Transaction tx(store_->db());
    if (all) note_cleared(store_->clear_acked(store_->acked_uncleared()));
    else note_cleared(store_->clear_acked(idle_clear_chunk, 0, std::chrono::steady_clock::now() - clear_settle_));
    tx.commit();
  } catch (const std::exception& e) {
    // The acks are forgotten with the caches; those messages are sent again.
    if (const auto* db = dynamic_cast<const store::DbError*>(&e); db && db->disk_full())
      spdlog::debug("[store] clearing acknowledged messages failed: {}", e.what());
    else
      spdlog::error("[store] clearing acknowledged messages failed: {}", e.what());
    store_->drop_caches();
  }
  metrics_.store_acked_uncleared->Set(static_cast<double>(store_->acked_uncleared()));
}

bool StoreWorker::run_group(std::vector<std::pair<Job, Done>>& group, std::vector<std::exception_ptr>& errors,
                            bool isolated) {
  try {
    std::lock_guard end(wal_end_mutex_);
    store::Transaction tx(store_->db());
    const auto started = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < group.size(); ++i) {
      if (!isolated) {
        try {
          group[i].first(*store_);
        } catch (...) {
          store_->drop_caches();  // the caches may hold what the rollback undoes
          return false;
        }
        continue;
      }
      store::Savepoint sp(store_->db());
      try {
        group[i].first(*store_);
        sp.release();
      } catch (...) {
        errors[i] = std::current_exception();
        store_->drop_caches();
      }
    }
    const auto now = std::chrono::steady_clock::now();
    clear_acked(now + (now - started));
    tx.commit();
  } catch (const std::exception& e) {
    // A full disk is logged once, by note_disk.
    if (const auto* db = dynamic_cast<const store::DbError*>(&e); db && db->disk_full())
      spdlog::debug("[store] group of {} jobs failed to commit: {}", group.size(), e.what());
    else
      spdlog::error("[store] group of {} jobs failed to commit: {}", group.size(), e.what());
    store_->drop_caches();
    for (auto& err : errors)
      if (!err) err = std::current_exception();
  }
  return true;
}

ThreadWorker::ThreadWorker(Poster post, std::size_t threads) : post_(std::move(post)) {
  for (std::size_t i = 0; i < threads; ++i)
    threads_.emplace_back([this] {
      for (;;) {
        std::pair<std::function<void()>, std::function<void()>> item;
        {
          std::unique_lock lock(mutex_);
          wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
          if (queue_.empty()) return;
          item = std::move(queue_.front());
          queue_.erase(queue_.begin());
        }
        try {
          item.first();
        } catch (const std::exception& e) {
          // `done` still runs, and sees the work's result unset.
          spdlog::error("[worker] job failed: {}", e.what());
        }
        post_(std::move(item.second));
      }
    });
}

ThreadWorker::~ThreadWorker() { stop(); }

void ThreadWorker::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void ThreadWorker::run(std::function<void()> work, std::function<void()> done) {
  {
    std::lock_guard lock(mutex_);
    queue_.emplace_back(std::move(work), std::move(done));
  }
  wake_.notify_one();
}

}  // namespace tirai::relay
