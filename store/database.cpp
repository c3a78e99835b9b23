#include "store/database.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

namespace tirai::store {

namespace {
[[noreturn]] void fail(sqlite3* db, std::string_view what) {
  throw DbError(fmt::format("sqlite: {}: {}", what, db ? sqlite3_errmsg(db) : "out of memory"),
                db ? sqlite3_errcode(db) & 0xff : SQLITE_NOMEM);
}
}  // namespace

bool DbError::disk_full() const { return code_ == SQLITE_FULL; }

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db), stmt_(nullptr) {
  if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt_,
                         nullptr) != SQLITE_OK)
    fail(db, fmt::format("prepare '{}'", sql));
}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int index, std::int64_t v) {
  if (sqlite3_bind_int64(stmt_, index, v) != SQLITE_OK) fail(db_, "bind");
  return *this;
}

Statement& Statement::bind(int index, std::string_view v) {
  if (sqlite3_bind_text(stmt_, index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) != SQLITE_OK)
    fail(db_, "bind");
  return *this;
}

Statement& Statement::bind(int index, std::span<const std::uint8_t> v) {
  if (sqlite3_bind_blob(stmt_, index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) != SQLITE_OK)
    fail(db_, "bind");
  return *this;
}

Statement& Statement::bind(int index, std::nullptr_t) {
  if (sqlite3_bind_null(stmt_, index) != SQLITE_OK) fail(db_, "bind");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db_, "step");
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Statement::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
std::int64_t Statement::int64(int col) const { return sqlite3_column_int64(stmt_, col); }
double Statement::real(int col) const { return sqlite3_column_double(stmt_, col); }

std::string Statement::text(int col) const {
  const auto* p = sqlite3_column_text(stmt_, col);
  const int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n)) : std::string();
}

Bytes Statement::blob(int col) const {
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, col));
  const int n = sqlite3_column_bytes(stmt_, col);
  return p ? Bytes(p, p + n) : Bytes();
}

Database::Database(const std::filesystem::path& path, Synchronous sync)
    : path_(path), wal_path_(path.string() + "-wal"), sync_(sync) {
  // Before SQLite initialises (the first open): no allocation statistics.
  // Keeping them takes a process-wide mutex on every sqlite3_malloc and
  // sqlite3_free, a measurable share of a loaded server's time (finding 18 of
  // docs/performance.md), and nothing reads them. If SQLite was initialised
  // already this fails harmlessly.
  static const int memstatus_off = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)memstatus_off;
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw DbError(fmt::format("sqlite: cannot open {}: {}", path.string(), msg));
  }
  try {
    sqlite3_busy_timeout(db_, 5000);
    exec("PRAGMA journal_mode = WAL");
    exec("PRAGMA secure_delete = ON");
    exec("PRAGMA foreign_keys = ON");
    exec(sync == Synchronous::full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    exec("PRAGMA temp_store = MEMORY");
    // 8 MiB of page cache (SQLite's default is 2 MB): bookings insert
    // sessions at random places in their B-tree (the ids are random), and
    // with a few thousand live sessions the default reads pages back from
    // the WAL. Messages need little: they are appended in arrival order, and
    // an ack clears bodies on the newest pages.
    exec("PRAGMA cache_size = -8192");
    // SQLite's own checkpoint, for a connection whose owner does not take
    // checkpoints over: the store worker does (on_wal_commit; a WAL hook
    // switches this one off), so this serves the other users of a Database:
    // migrations at start-up, the offline key rotation, tests. Every 4,000
    // pages (16 MiB) rather than 1,000, so that a page rewritten by several
    // commits is copied once.
    exec("PRAGMA wal_autocheckpoint = 4000");
  } catch (...) {
    cache_.clear();
    sqlite3_close(db_);
    throw;
  }
}

Database::~Database() {
  cache_.clear();  // statements must be finalised before the connection closes
  sqlite3_close(db_);
}

void Database::exec(std::string_view sql) {
  char* err = nullptr;
  if (const int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &err); rc != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw DbError(fmt::format("sqlite: {}", msg), rc & 0xff);
  }
}

Statement& Database::cached(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) it = cache_.emplace(std::string(sql), Statement(db_, sql)).first;
  it->second.reset();
  return it->second;
}

std::int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
int Database::changes() const { return sqlite3_changes(db_); }

std::int64_t Database::pragma_int(std::string_view name) {
  Statement st(db_, fmt::format("PRAGMA {}", name));
  return st.step() ? st.int64(0) : 0;
}

void Database::reset_statements() {
  for (auto* st = sqlite3_next_stmt(db_, nullptr); st; st = sqlite3_next_stmt(db_, st))
    if (sqlite3_stmt_busy(st)) sqlite3_reset(st);
}

void Database::checkpoint_truncate() {
  // A stepped but unreset SELECT holds a read snapshot that blocks TRUNCATE.
  reset_statements();
  int log = 0, done = 0;
  if (sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, &log, &done) != SQLITE_OK)
    fail(db_, "wal checkpoint");
}

std::pair<int, int> Database::checkpoint_passive() {
  int log = 0, done = 0;
  const int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
  if (rc == SQLITE_BUSY) return {0, 0};
  if (rc != SQLITE_OK) fail(db_, "wal checkpoint");
  return {log, done};
}

void Database::on_wal_commit(std::function<void(int frames)> f) {
  on_wal_commit_ = std::move(f);
  sqlite3_wal_hook(
      db_,
      [](void* self, sqlite3*, const char*, int frames) {
        static_cast<Database*>(self)->on_wal_commit_(frames);
        return SQLITE_OK;
      },
      this);
}

// Cached statements: below saturation each message is a transaction of its
// own, and sqlite3_exec parsed BEGIN and COMMIT again every time.
Transaction::Transaction(Database& db) : db_(db) { db_.cached("BEGIN IMMEDIATE").run(); }

Transaction::~Transaction() {
  if (!done_) {
    try {
      db_.reset_statements();
      db_.exec("ROLLBACK");
    } catch (...) {
      // The transaction is gone either way; nothing else can be done here.
    }
  }
}

void Transaction::commit() {
  // Statements left stepped would keep the connection's read snapshot after
  // COMMIT, and the automatic checkpoint could copy nothing past it.
  db_.reset_statements();
  db_.cached("COMMIT").run();
  done_ = true;
}

// Cached statements: a savepoint per store job is on the hot path.
Savepoint::Savepoint(Database& db) : db_(db) { db_.cached("SAVEPOINT job").run(); }

Savepoint::~Savepoint() {
  if (!done_) {
    try {
      db_.cached("ROLLBACK TO job").run();
      db_.cached("RELEASE job").run();
    } catch (...) {
    }
  }
}

void Savepoint::release() {
  db_.cached("RELEASE job").run();
  done_ = true;
}

}  // namespace tirai::store
