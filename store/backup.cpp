#include "store/backup.hpp"

#include "store/database.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <unistd.h>

#include <memory>
#include <string>

namespace tirai::store {

namespace {

struct Closer {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Connection = std::unique_ptr<sqlite3, Closer>;

Connection open(const std::filesystem::path& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Connection db(raw);
  if (rc != SQLITE_OK)
    throw DbError(fmt::format("sqlite: cannot open {}: {}", path.string(), raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  sqlite3_busy_timeout(raw, 5000);
  return db;
}

std::int64_t pragma(sqlite3* db, const char* name) {
  Statement s(db, fmt::format("PRAGMA {}", name));
  if (!s.step()) throw DbError(fmt::format("sqlite: PRAGMA {} returned nothing", name));
  return s.int64(0);
}

void exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string what = error ? error : "unknown error";
    sqlite3_free(error);
    throw DbError(fmt::format("sqlite: {}: {}", sql, what));
  }
}

}  // namespace

BackupReport backup_database(const std::filesystem::path& db, const std::filesystem::path& out) {
  if (!std::filesystem::exists(db)) throw DbError(fmt::format("no database at {}", db.string()));
  // Claimed at once, private from the first byte, and never over a file that is there.
  const auto partial = std::filesystem::path(out.string() + ".partial");
  {
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw DbError(fmt::format("{} exists or cannot be created", out.string()));
    ::close(fd);
  }
  BackupReport report;
  try {
    std::filesystem::remove(partial);
    ::close(::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    {
      auto source = open(db, SQLITE_OPEN_READONLY);
      if (pragma(source.get(), "application_id") != application_id)
        throw DbError(fmt::format("{} is not a tirai database", db.string()));
      auto copy = open(partial, SQLITE_OPEN_READWRITE);
      sqlite3_backup* b = sqlite3_backup_init(copy.get(), "main", source.get(), "main");
      if (!b) throw DbError(fmt::format("sqlite: backup: {}", sqlite3_errmsg(copy.get())));
      // All pages in one step: one read transaction, so one snapshot.
      // A writer's moment of exclusive lock (a WAL restart) answers BUSY:
      // try again, for half a minute at most.
      int rc = SQLITE_BUSY;
      for (int tries = 0; tries < 3000 && (rc == SQLITE_BUSY || rc == SQLITE_LOCKED); ++tries) {
        if (tries > 0) sqlite3_sleep(10);
        rc = sqlite3_backup_step(b, -1);
      }
      report.pages = sqlite3_backup_pagecount(b);
      sqlite3_backup_finish(b);
      if (rc != SQLITE_DONE) throw DbError(fmt::format("sqlite: backup: {}", sqlite3_errstr(rc)));
      // One file to keep and copy back: no -wal, no -shm beside it.
      exec(copy.get(), "PRAGMA journal_mode = DELETE");
      Statement check(copy.get(), "PRAGMA quick_check");
      if (!check.step() || check.text(0) != "ok") throw DbError("the copy failed SQLite's quick_check");
      report.schema_version = static_cast<int>(pragma(copy.get(), "user_version"));
    }
    const int fd = ::open(partial.c_str(), O_RDONLY | O_CLOEXEC);
    const bool synced = fd >= 0 && ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    if (!synced) throw DbError(fmt::format("cannot sync {}", partial.string()));
    std::filesystem::rename(partial, out);
    report.bytes = static_cast<std::int64_t>(std::filesystem::file_size(out));
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(partial, ignored);
    std::filesystem::remove(out, ignored);
    throw;
  }
  return report;
}

}  // namespace tirai::store
