#pragma once
#include "crypto/encoding.hpp"
#include "store/synchronous.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace tirai::store {

using crypto::Bytes;

// Any SQLite failure: a broken invariant or a disk problem, never bad user input.
class DbError : public std::runtime_error {
 public:
  // `code`: SQLite's primary result code, when SQLite gave one.
  explicit DbError(const std::string& what, int code = 0) : std::runtime_error(what), code_(code) {}
  // The disk (or the filesystem's quota) has no room for what was written.
  bool disk_full() const;

 private:
  int code_;
};

// One compiled statement; finalised in its destructor. Bind indexes start at 1,
// column indexes at 0. Every accessor throws DbError on misuse.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);
  ~Statement();
  Statement(Statement&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& operator=(Statement&&) = delete;

  Statement& bind(int index, std::int64_t v);
  Statement& bind(int index, std::string_view v);
  Statement& bind(int index, std::span<const std::uint8_t> v);
  Statement& bind(int index, std::nullptr_t);
  template <typename T>
  Statement& bind(int index, const std::optional<T>& v) {
    return v ? bind(index, *v) : bind(index, nullptr);
  }

  // Steps once: true when a row is ready, false when the statement is done.
  bool step();
  // Steps to completion, for statements that return no rows.
  void run();
  // Clears bindings and rewinds, ready for reuse.
  void reset();

  bool is_null(int col) const;
  std::int64_t int64(int col) const;
  double real(int col) const;
  std::string text(int col) const;
  Bytes blob(int col) const;
  std::optional<std::int64_t> opt_int64(int col) const {
    return is_null(col) ? std::nullopt : std::optional(int64(col));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// An open SQLite file in WAL mode with secure_delete on. Throws DbError when
// the file cannot be opened or is not a tirai database.
class Database {
 public:
  Database(const std::filesystem::path& path, Synchronous sync);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(std::string_view sql);
  // A statement compiled on first use and kept; returned reset and unbound.
  Statement& cached(std::string_view sql);
  std::int64_t last_insert_rowid() const;
  int changes() const;
  std::int64_t pragma_int(std::string_view name);
  // Copies the WAL into the database and truncates it, so deleted content does
  // not linger in the WAL file.
  void checkpoint_truncate();
  // A passive checkpoint: copies into the database what it can without
  // waiting for writers or readers, and syncs. Returns {frames in the WAL,
  // frames copied}; when they are equal the next write starts the WAL over.
  // Throws on an error; SQLITE_BUSY (another checkpoint runs) is {0, 0}.
  std::pair<int, int> checkpoint_passive();
  // Replaces SQLite's automatic checkpoint, which runs inside COMMIT on the
  // committing thread: `f` is called after each commit with the WAL's
  // length in frames, and decides who checkpoints and when.
  void on_wal_commit(std::function<void(int frames)> f);
  const std::filesystem::path& path() const { return path_; }
  Synchronous synchronous() const { return sync_; }
  // The WAL's file (it exists once the database has been written).
  const std::filesystem::path& wal_path() const { return wal_path_; }
  // Resets every statement that was stepped and not run to its end (a
  // single-row SELECT), so that it holds no read snapshot: a snapshot held
  // past a commit pins the WAL, which then is never checkpointed or reset
  // and grows without end.
  void reset_statements();

 private:
  sqlite3* db_ = nullptr;
  std::map<std::string, Statement, std::less<>> cache_;
  std::filesystem::path path_;
  std::filesystem::path wal_path_;
  Synchronous sync_;
  std::function<void(int)> on_wal_commit_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back in the destructor unless committed.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

// A nested unit inside a transaction: a failing job undoes only its own writes.
class Savepoint {
 public:
  explicit Savepoint(Database& db);
  ~Savepoint();
  Savepoint(const Savepoint&) = delete;
  Savepoint& operator=(const Savepoint&) = delete;
  void release();

 private:
  Database& db_;
  bool done_ = false;
};

// "TIRA" in PRAGMA application_id: marks the file as a tirai database, for
// `file(1)`, for migrate() and for the backup's check of its source.
inline constexpr std::int64_t application_id = 0x54495241;

// Brings the schema to the newest version; throws DbError for a file written
// by a newer tirai or by another application.
void migrate(Database& db);
int schema_version();

}  // namespace tirai::store
