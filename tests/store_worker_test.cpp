#include "relay/core/metrics.hpp"
#include "relay/daemon/store_worker.hpp"
#include "store/store.hpp"
#include "support/keys.hpp"
#include "support/session_records.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <thread>

using namespace tirai;
using proto::Role;

namespace {

// A store worker on a fresh file; what it posts to "the relay thread" is
// kept here, to be run by the test.
struct World {
  explicit World(std::chrono::milliseconds clear_settle = std::chrono::milliseconds(250),
                 relay::WalFrames wal = {})
      : worker{std::make_unique<store::Store>(path, store::Synchronous::normal, keys),
               [this](std::function<void()> f) {
                 {
                   std::lock_guard lock(mutex);
                   posted.push_back(std::move(f));
                 }
                 posted_cv.notify_all();
               },
               metrics, 4096, clear_settle, wal} {}
  test::TempDir dir;
  crypto::Keyring keys = test::random_keyring();
  std::filesystem::path path = dir.path() / "t.db";
  relay::Metrics metrics;
  std::mutex mutex;
  std::condition_variable posted_cv;
  std::vector<std::function<void()>> posted;
  relay::StoreWorker worker;

  void run_posted() {
    for (auto& f : posted) f();
  }
  // Until `groups` groups have posted their dones (a group of thousands of
  // appends takes a while under the sanitizers).
  void wait_posted(std::size_t groups) {
    std::unique_lock lock(mutex);
    REQUIRE(posted_cv.wait_for(lock, std::chrono::seconds(60), [&] { return posted.size() == groups; }));
  }
};

// Enrols "natasha" and books a session of hers; returns its id.
std::string book_session(store::Store& st) {
  st.add_talent("natasha", "h", 1);
  const auto r = test::session_record(st.talent("natasha")->id, st.client_for_number("+6281234567890", 1000));
  st.insert_session(r);
  return r.id;
}

// About a page per message.
const std::string page_text(3000, 'x');

// The WAL header's checkpoint sequence number counts the times the WAL
// started over (SQLite writes a new header with the first frame after).
std::uint32_t times_wal_started(const std::filesystem::path& wal) {
  std::ifstream f(wal, std::ios::binary);
  unsigned char h[16]{};
  f.read(reinterpret_cast<char*>(h), sizeof h);
  return std::uint32_t{h[12]} << 24 | std::uint32_t{h[13]} << 16 | std::uint32_t{h[14]} << 8 | h[15];
}

// The frames the WAL file has room for (it is not truncated when it starts over).
std::uintmax_t wal_frames(const std::filesystem::path& wal) { return std::filesystem::file_size(wal) / (4096 + 24); }

// Until the worker sleeps, waiting for jobs (it goes back to sleep just
// after posting a group's dones).
bool wait_sleeping(relay::StoreWorker& worker) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!worker.sleeping())
    if (std::chrono::steady_clock::now() > deadline) return false;
    else std::this_thread::yield();
  return true;
}

}  // namespace

TEST_CASE("store worker: a few jobs for a sleeping worker run on the relay thread at the end of a batch", "[store]") {
  World w;
  auto& worker = w.worker;
  worker.defer_wakes();
  worker.start();
  const auto here = std::this_thread::get_id();
  std::vector<std::thread::id> ran;
  std::vector<int> done;
  auto job = [&](int i) {
    worker.submit(
        [&, i](store::Store& st) {
          REQUIRE(st.add_talent(fmt::format("t{}", i), "h", 1));
          ran.push_back(std::this_thread::get_id());
        },
        [&, i](std::exception_ptr e) { done.push_back(e ? -i : i); });
  };
  REQUIRE(wait_sleeping(worker));
  for (int i = 1; i <= 3; ++i) job(i);
  worker.end_of_batch(3);
  // Run here, committed, and their dones called in order before it returned;
  // nothing was posted.
  CHECK(ran == std::vector<std::thread::id>(3, here));
  CHECK(done == std::vector<int>{1, 2, 3});
  CHECK(w.posted.empty());
  {
    store::Store other(w.path, store::Synchronous::normal, w.keys);
    CHECK(other.talents().size() == 3);
  }
  // More than max_jobs: the worker's, dones posted back.
  ran.clear();
  done.clear();
  for (int i = 4; i <= 7; ++i) job(i);
  worker.end_of_batch(3);
  w.wait_posted(1);
  w.run_posted();
  CHECK(ran.size() == 4);
  CHECK(std::none_of(ran.begin(), ran.end(), [&](auto id) { return id == here; }));
  CHECK(done == std::vector<int>{4, 5, 6, 7});
  // A failing job undoes only itself here too.
  REQUIRE(wait_sleeping(worker));
  done.clear();
  job(8);
  worker.submit(
      [](store::Store& st) {
        st.add_talent("t9", "h", 1);
        throw std::runtime_error("job 9 fails");
      },
      [&](std::exception_ptr e) { done.push_back(e ? -9 : 9); });
  job(10);
  worker.end_of_batch();
  CHECK(done == std::vector<int>{8, -9, 10});
  worker.stop();
  store::Store st(w.path, store::Synchronous::normal, w.keys);
  CHECK(st.talents().size() == 9);
  CHECK_FALSE(st.talent("t9"));
}

TEST_CASE("store worker: jobs run at the end of a batch do not overtake the dones the worker posted", "[store]") {
  World w;
  auto& worker = w.worker;
  worker.defer_wakes();
  worker.start();
  std::vector<int> done;
  auto job = [&](int i) {
    worker.submit([i](store::Store& st) { REQUIRE(st.add_talent(fmt::format("t{}", i), "h", 1)); },
                  [&, i](std::exception_ptr e) { done.push_back(e ? -i : i); });
  };
  REQUIRE(wait_sleeping(worker));
  for (int i = 1; i <= 4; ++i) job(i);
  worker.end_of_batch(3);  // the worker's: four jobs
  w.wait_posted(1);
  // Its dones are posted to "the relay thread" and not run yet; the worker
  // sleeps again. The next job must not be done before them.
  REQUIRE(wait_sleeping(worker));
  job(5);
  worker.end_of_batch(3);
  CHECK(done.empty());
  w.wait_posted(2);
  w.run_posted();
  CHECK(done == std::vector<int>{1, 2, 3, 4, 5});
  // With nothing posted left, the next one runs here.
  REQUIRE(wait_sleeping(worker));
  job(6);
  worker.end_of_batch(3);
  CHECK(done == std::vector<int>{1, 2, 3, 4, 5, 6});
  worker.stop();
}

TEST_CASE("store worker: a failing job undoes only itself, the rest of its group commits", "[store]") {
  World w;
  auto& worker = w.worker;

  std::vector<std::string> order;
  std::vector<bool> failed;
  auto done = [&](std::string name) {
    return [&, name](std::exception_ptr e) {
      order.push_back(name);
      failed.push_back(e != nullptr);
    };
  };
  int first_runs = 0;
  auto seen = std::make_shared<std::vector<std::string>>();
  // Queued before the thread starts, so all of them form one group.
  worker.submit([](store::Store& st) { st.add_talent("ana", "h", 1); }, done("ana"));
  worker.submit(
      [&](store::Store& st) {
        ++first_runs;
        seen->clear();  // a job may run twice: it sets its result
        for (const auto& t : st.talents()) seen->push_back(t.alias);
      },
      done("list"));
  worker.submit(
      [](store::Store& st) {
        st.add_talent("bela", "h", 1);
        throw std::runtime_error("this job fails after writing");
      },
      done("bela"));
  worker.submit([](store::Store& st) { st.add_talent("citra", "h", 1); }, done("citra"));
  worker.start();
  worker.stop();
  w.run_posted();

  CHECK(order == std::vector<std::string>{"ana", "list", "bela", "citra"});
  CHECK(failed == std::vector<bool>{false, false, true, false});
  // The group ran twice (the second time with a savepoint per job); the
  // listing job's result is from the run that committed.
  CHECK(first_runs == 2);
  CHECK(*seen == std::vector<std::string>{"ana"});

  store::Store st(w.path, store::Synchronous::normal, w.keys);
  CHECK(st.talent("ana"));
  CHECK_FALSE(st.talent("bela"));
  CHECK(st.talent("citra"));
}

TEST_CASE("store worker: a group without failures runs each job once", "[store]") {
  World w;
  auto& worker = w.worker;
  int runs = 0, dones = 0;
  for (int i = 0; i < 50; ++i)
    worker.submit(
        [&, i](store::Store& st) {
          ++runs;
          st.add_talent("t" + std::to_string(i), "h", 1);
        },
        [&](std::exception_ptr e) { dones += e ? 100 : 1; });
  worker.start();
  worker.stop();
  w.run_posted();
  CHECK(runs == 50);
  CHECK(dones == 50);
}

TEST_CASE("store worker: teardowns within a second share one WAL checkpoint, an erasure's is at once", "[store]") {
  World w;
  auto& worker = w.worker;
  auto& mutex = w.mutex;
  auto& posted = w.posted;
  auto& posted_cv = w.posted_cv;
  const auto wal = std::filesystem::path(w.path.string() + "-wal");
  int checkpoints = 0;
  worker.on_checkpoint([&] {
    {
      std::lock_guard lock(mutex);
      ++checkpoints;
    }
    posted_cv.notify_all();
  });
  worker.start();
  // Runs one job to the end (its done posted) and returns the WAL's size then.
  auto run = [&](std::string alias, bool checkpoint, bool now) {
    std::unique_lock lock(mutex);
    const auto before = posted.size();
    lock.unlock();
    worker.submit(
        [=](store::Store& st) {
          st.add_talent(alias, "h", 1);
          if (checkpoint) st.request_checkpoint(now);
        },
        {});
    lock.lock();
    REQUIRE(posted_cv.wait_for(lock, std::chrono::seconds(10), [&] { return posted.size() > before; }));
    return std::filesystem::file_size(wal);
  };
  CHECK(run("ana", true, false) == 0);  // the first teardown: checkpointed at once
  CHECK(run("bela", true, false) > 0);  // within the second: waits for the next checkpoint
  CHECK(run("citra", true, true) == 0);  // an erasure: at once, taking the waiting one along
  CHECK(run("dewi", true, false) > 0);
  // Nothing more comes; the waiting checkpoint still happens (the worker
  // wakes for it when its second is up).
  {
    std::unique_lock lock(mutex);
    CHECK(checkpoints == 2);
    REQUIRE(posted_cv.wait_for(lock, std::chrono::seconds(10), [&] { return checkpoints == 3; }));
  }
  CHECK(std::filesystem::file_size(wal) == 0);
  worker.stop();
}

TEST_CASE("store worker: with deferred wakes, jobs run once the relay thread calls wake()", "[store]") {
  World w;
  auto& worker = w.worker;
  worker.defer_wakes();
  worker.start();
  int dones = 0;
  // Bursts of jobs, as one pass of the event loop makes, then wake(); the
  // "relay thread" runs what is posted (the dones) until the burst is done,
  // calling wake() between batches as the daemon's loop does. A lost wake
  // would leave a burst waiting forever.
  for (int burst = 0; burst < 20; ++burst) {
    for (int i = 0; i < 10; ++i)
      worker.submit([=](store::Store& st) { st.add_talent(fmt::format("t{}-{}", burst, i), "h", 1); },
                    [&](std::exception_ptr e) { dones += e ? 1000 : 1; });
    worker.wake();
    while (dones < (burst + 1) * 10) {
      std::vector<std::function<void()>> batch;
      {
        std::unique_lock lock(w.mutex);
        REQUIRE(w.posted_cv.wait_for(lock, std::chrono::seconds(10), [&] { return !w.posted.empty(); }));
        batch.swap(w.posted);
      }
      for (auto& f : batch) f();
      worker.wake();
    }
    CHECK(dones == (burst + 1) * 10);
  }
  worker.stop();
  store::Store st(w.path, store::Synchronous::normal, w.keys);
  CHECK(st.talents().size() == 200);
}

TEST_CASE("store worker: acked bodies are cleared after the group's jobs, and all of them by stop()", "[store]") {
  World w{std::chrono::milliseconds(0)};  // acks count as settled at once
  auto& worker = w.worker;
  std::string session;
  std::size_t uncleared_in_group = 0, uncleared_after = 0;
  // More than the newest rows a group leaves to later acks.
  const std::size_t messages = static_cast<std::size_t>(relay::StoreWorker::clear_spare) + 2000;
  // One group (queued before start): messages stored, all acked, and a probe
  // that sees the bodies still there: a burst of acks does not make the
  // group's own jobs wait for it.
  worker.submit(
      [&](store::Store& st) {
        session = book_session(st);
        for (std::size_t i = 1; i <= messages; ++i)
          st.append(session, Role::client, fmt::format("m{}", i), "pesan", 2000 + static_cast<std::int64_t>(i));
      },
      {});
  worker.submit([&](store::Store& st) { st.ack(session, Role::talent, static_cast<std::int64_t>(messages)); }, {});
  worker.submit([&](store::Store& st) { uncleared_in_group = st.acked_uncleared(); }, {});
  worker.start();
  w.wait_posted(1);
  // The next group clears at least a chunk of them after its own jobs.
  worker.submit([&](store::Store& st) { uncleared_after = st.acked_uncleared(); }, {});
  w.wait_posted(2);
  worker.stop();
  CHECK(uncleared_in_group == messages);
  CHECK(uncleared_after < messages);
  CHECK(w.metrics.store_acked_uncleared->Value() == 0);
  // Stopping cleared the rest: no body is left in the file.
  store::Store st(w.path, store::Synchronous::normal, w.keys);
  auto& q = st.db().cached("SELECT count(*), count(body) FROM messages");
  REQUIRE(q.step());
  CHECK(q.int64(0) == static_cast<std::int64_t>(messages));
  CHECK(q.int64(1) == 0);
  CHECK(st.pending(session, Role::talent).empty());
}

TEST_CASE("store worker: an acked body waits until its ack has settled, and stop() clears it anyway", "[store]") {
  World w{std::chrono::hours(1)};
  auto& worker = w.worker;
  std::string session;
  const std::size_t messages = static_cast<std::size_t>(relay::StoreWorker::clear_spare) + 500;
  std::vector<std::size_t> uncleared;
  worker.submit(
      [&](store::Store& st) {
        session = book_session(st);
        for (std::size_t i = 1; i <= messages; ++i) st.append(session, Role::client, fmt::format("m{}", i), "pesan", 2000);
        st.ack(session, Role::talent, static_cast<std::int64_t>(messages));
      },
      {});
  worker.start();
  w.wait_posted(1);
  // Groups after it, each waited for: none clears a row acked an hour
  // "ago" at most, nor does the worker between them.
  for (std::size_t g = 1; g <= 5; ++g) {
    worker.submit([&](store::Store& st) { uncleared.push_back(st.acked_uncleared()); }, {});
    w.wait_posted(g + 1);
  }
  worker.stop();
  CHECK(uncleared == std::vector<std::size_t>(5, messages));
  store::Store st(w.path, store::Synchronous::normal, w.keys);
  auto& q = st.db().cached("SELECT count(body) FROM messages");
  REQUIRE(q.step());
  CHECK(q.int64(0) == 0);
}

TEST_CASE("store worker: the WAL is copied by the checkpointer's thread and starts over while groups commit", "[store]") {
  // Groups all on the worker, or every other one on this thread (the
  // relay's, end_of_batch): the store's hold on the WAL's restart then
  // passes between threads.
  const bool alternate = GENERATE(false, true);
  INFO("every other group on this thread: " << alternate);
  World w;
  auto& worker = w.worker;
  if (alternate) worker.defer_wakes();
  int groups = 0;
  const auto wal = std::filesystem::path(w.path.string() + "-wal");
  std::mutex m;
  std::condition_variable cv;
  int longest = 0;  // the longest WAL a pass copied whole
  worker.on_background_checkpoint([&](int log, int copied) {
    {
      std::lock_guard lock(m);
      if (copied >= log) longest = std::max(longest, log);
    }
    cv.notify_all();
  });
  worker.start();
  std::string session;
  int sent = 0;
  // One group at a time, waiting for each, as a relay under load commits.
  auto group = [&](std::function<void(store::Store&)> job) {
    if (alternate && groups++ % 2 == 1) {
      REQUIRE(wait_sleeping(worker));
      bool done = false;
      worker.submit(std::move(job), [&](std::exception_ptr e) { done = !e; });
      worker.end_of_batch();
      REQUIRE(done);
      return;
    }
    std::unique_lock lock(w.mutex);
    const auto before = w.posted.size();
    lock.unlock();
    worker.submit(std::move(job), {});
    worker.wake();
    lock.lock();
    REQUIRE(w.posted_cv.wait_for(lock, std::chrono::seconds(10), [&] { return w.posted.size() > before; }));
    // The dones run on "the relay thread", as the daemon's loop would run
    // them before its next end of batch.
    std::vector<std::function<void()>> dones;
    dones.swap(w.posted);
    lock.unlock();
    for (auto& f : dones) f();
  };
  group([&](store::Store& st) {
    session = book_session(st);
  });
  auto write = [&](int messages) {
    group([&, messages](store::Store& st) {
      for (int i = 0; i < messages; ++i) st.append(session, Role::client, fmt::format("m{}", ++sent), page_text, 2000);
    });
  };
  auto wal_starts = [&] { return times_wal_started(wal); };
  auto frames = [&] { return wal_frames(wal); };
  const auto first = wal_starts();
  constexpr auto restart_frames = static_cast<std::uintmax_t>(relay::WalFrames{}.restart);
  constexpr auto store_frames = static_cast<std::uintmax_t>(relay::WalFrames{}.store);
  // Past restart_frames, in groups of 50. With nobody copying the WAL, or
  // only the checkpointer (whose passes never find the WAL whole at the
  // start of a commit), it would not start over below store_frames.
  while (frames() < restart_frames + 1000) write(50);
  // Until a pass has copied all of the restart_frames or more there were
  // when it began. Passes are asked for by commits, at most one per 100 ms:
  // keep committing a little while waiting.
  auto copied_restart = [&] { return static_cast<std::uintmax_t>(longest) >= restart_frames; };
  for (int i = 0; i < 3000; ++i) {
    std::unique_lock lock(m);
    if (cv.wait_for(lock, std::chrono::milliseconds(10), copied_restart)) break;
    lock.unlock();
    write(1);
  }
  {
    std::lock_guard lock(m);
    REQUIRE(copied_restart());
  }
  // So the database file has the pages while the worker runs, and soon the
  // WAL starts over: at the first commit that finds the checkpointer out of
  // a pass (another may have begun meanwhile, and its syncs take long on a
  // busy disk), the store thread copies what came since, and the commit
  // after starts the WAL over; if no commit ever finds a fresh pass (a
  // slow checkpointer on a busy machine), the copy forced at store_frames
  // does it.
  CHECK(std::filesystem::file_size(w.path) > restart_frames * 4096 * 9 / 10);  // a few frames rewrote a page
  while (wal_starts() == first && frames() < store_frames + 2000) write(1);
  INFO("WAL frames when the loop ended: " << frames());
  CHECK(wal_starts() != first);
  worker.stop();
  store::Store st(w.path, store::Synchronous::normal, w.keys);
  CHECK(st.session(session)->message_count == sent);
}

TEST_CASE("store worker: with the checkpointer stuck, the store thread copies the WAL at WalFrames::store", "[store]") {
  // Short lengths: a pass asked for at 100 frames, forced copy at 1,000.
  World w(std::chrono::milliseconds(250), relay::WalFrames{100, 400, 32, 1000});
  auto& worker = w.worker;
  const auto wal = std::filesystem::path(w.path.string() + "-wal");
  // The checkpointer's first pass (at 100 frames, so it copies no
  // WalFrames::restart) never returns until the end of the test: no pass
  // can let the WAL start over, only the store thread's own copy.
  std::mutex m;
  std::condition_variable cv;
  int passes = 0;
  bool release = false;
  worker.on_background_checkpoint([&](int, int) {
    std::unique_lock lock(m);
    ++passes;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  });
  // Lets the checkpointer go however the test ends (a failed REQUIRE
  // unwinds into World's stop(), which joins it).
  struct Release {
    std::mutex& m;
    std::condition_variable& cv;
    bool& release;
    ~Release() {
      {
        std::lock_guard lock(m);
        release = true;
      }
      cv.notify_all();
    }
  } let_go{m, cv, release};
  worker.start();
  std::string session;
  int sent = 0;
  worker.submit([&](store::Store& st) { session = book_session(st); }, {});
  std::size_t groups = 1;
  w.wait_posted(groups);  // one group per submit from here on
  auto write = [&](int messages) {
    worker.submit(
        [&, messages](store::Store& st) {
          for (int i = 0; i < messages; ++i) st.append(session, Role::client, fmt::format("m{}", ++sent), page_text, 2000);
        },
        {});
    w.wait_posted(++groups);
  };
  const auto first = times_wal_started(wal);
  while (wal_frames(wal) < 150) write(10);
  {
    std::unique_lock lock(m);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return passes == 1; }));
  }
  while (times_wal_started(wal) == first && wal_frames(wal) < 1200) write(10);
  INFO("WAL frames when the loop ended: " << wal_frames(wal));
  CHECK(times_wal_started(wal) != first);
  CHECK(wal_frames(wal) < 1100);  // past 1,000 by a group or two
  {
    std::lock_guard lock(m);
    CHECK(passes == 1);
    release = true;
  }
  cv.notify_all();
  worker.stop();
  store::Store st(w.path, store::Synchronous::normal, w.keys);
  CHECK(st.session(session)->message_count == sent);
}

namespace {

bool wal_holds(const std::filesystem::path& wal, const crypto::Bytes& sealed) {
  const auto bytes = test::read_file(wal);
  return std::search(bytes.begin(), bytes.end(), sealed.begin(), sealed.end(),
                     [](char a, std::uint8_t b) { return static_cast<std::uint8_t>(a) == b; }) != bytes.end();
}

}  // namespace

TEST_CASE("store worker: within a second of an acked body's clearing, the WAL holds no old image of it", "[store]") {
  World w{std::chrono::milliseconds(0)};  // acks count as settled at once
  auto& worker = w.worker;
  const auto wal = std::filesystem::path(w.path.string() + "-wal");
  int checkpoints = 0;
  worker.on_checkpoint([&] {
    {
      std::lock_guard lock(w.mutex);
      ++checkpoints;
    }
    w.posted_cv.notify_all();
  });
  worker.start();
  std::string session;
  crypto::Bytes sealed;
  worker.submit(
      [&](store::Store& st) {
        session = book_session(st);
        st.append(session, Role::client, "m1", "the body of the message that gets acked", 2000);
        // Catch2 is not for the worker's thread: the check is the test's.
        auto& q = st.db().cached("SELECT body FROM messages");
        if (q.step()) sealed = q.blob(0);
        q.reset();
      },
      {});
  w.wait_posted(1);
  REQUIRE(sealed.size() > 16);
  REQUIRE(wal_holds(wal, sealed));  // what the audit rolled back to
  worker.submit([&](store::Store& st) { st.ack(session, Role::talent, 1); }, {});
  w.wait_posted(2);
  // The idle worker clears the body; the WAL is truncated within a second
  // of that (no teardown asks for it). Waited for up to 5 s, so that
  // without the truncation the check below is what fails.
  {
    std::unique_lock lock(w.mutex);
    w.posted_cv.wait_for(lock, std::chrono::seconds(5), [&] { return checkpoints > 0; });
  }
  CHECK(w.metrics.store_acked_uncleared->Value() == 0);
  CHECK_FALSE(wal_holds(wal, sealed));
  CHECK(std::filesystem::file_size(wal) == 0);
  // The database goes on working.
  worker.submit([&](store::Store& st) { st.append(session, Role::client, "m2", "and the next one", 3000); }, {});
  w.wait_posted(3);
  worker.stop();
  store::Store st(w.path, store::Synchronous::normal, w.keys);
  auto& q = st.db().cached("SELECT count(*), count(body) FROM messages");
  REQUIRE(q.step());
  CHECK(q.int64(0) == 2);
  CHECK(q.int64(1) == 1);
  q.reset();
  const auto pending = st.pending(session, Role::talent);
  REQUIRE(pending.size() == 1);
  CHECK(pending[0].text == "and the next one");
}

TEST_CASE("store worker: under load, a cleared body's old images leave the WAL when it starts over, cut by the "
          "write-back thread",
          "[store]") {
  relay::WalFrames frames;
  frames.background = 50;
  // No truncating checkpoint within the test: what removes the old images
  // is the WAL starting over, and its file cut after the new frames.
  frames.clear_flush_within = std::chrono::seconds(600);
  World w{std::chrono::milliseconds(0), frames};  // acks count as settled at once
  auto& worker = w.worker;
  const auto wal = std::filesystem::path(w.path.string() + "-wal");
  int checkpoints = 0;
  worker.on_checkpoint([&] { ++checkpoints; });
  worker.start();
  std::size_t groups = 0;
  auto group = [&](std::function<void(store::Store&)> job) {
    worker.submit(std::move(job), {});
    w.wait_posted(++groups);
  };
  std::string session;
  crypto::Bytes sealed;
  int sent = 1;
  group([&](store::Store& st) {
    session = book_session(st);
    st.append(session, Role::client, "m1", page_text, 2000);
    auto& q = st.db().cached("SELECT body FROM messages");
    if (q.step()) sealed = q.blob(0);
    q.reset();
  });
  REQUIRE(sealed.size() > 16);
  // A WAL of a few hundred frames, about a page per message.
  for (int i = 0; i < 8; ++i)
    group([&](store::Store& st) {
      for (int k = 0; k < 50; ++k) st.append(session, Role::client, fmt::format("m{}", ++sent), page_text, 2000);
    });
  REQUIRE(wal_holds(wal, sealed));
  const auto longest = std::filesystem::file_size(wal);
  group([&](store::Store& st) { st.ack(session, Role::talent, 1); });
  // The idle worker clears the body.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (w.metrics.store_acked_uncleared->Value() != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  REQUIRE(w.metrics.store_acked_uncleared->Value() == 0);
  // Commits go on, a short message each: the checkpointer is asked for a
  // pass, copies the WAL whole, the WAL starts over, and the write-back
  // thread cuts the file after the new frames.
  bool gone = false;
  while (!gone && std::chrono::steady_clock::now() < deadline) {
    group([&](store::Store& st) { st.append(session, Role::client, fmt::format("m{}", ++sent), "short", 2000); });
    gone = !wal_holds(wal, sealed);
  }
  CHECK(gone);
  CHECK(checkpoints == 0);
  CHECK(std::filesystem::file_size(wal) < longest);
  worker.stop();
  store::Store st(w.path, store::Synchronous::normal, w.keys);
  CHECK(st.session(session)->message_count == sent);
  auto& q = st.db().cached("SELECT count(body) FROM messages");
  REQUIRE(q.step());
  CHECK(q.int64(0) == sent - 1);
  q.reset();
}
