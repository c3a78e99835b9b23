#pragma once
// A backup of a tirai database while tiraid runs on it (tiraictl backup).
#include <cstdint>
#include <filesystem>

namespace tirai::store {

struct BackupReport {
  std::int64_t pages = 0;
  std::int64_t bytes = 0;
  int schema_version = 0;
};

// Copies the database at `db` into a new file `out` (mode 0600), as one
// consistent snapshot taken by SQLite's online backup API from a read
// transaction of its own: in WAL mode tiraid goes on writing meanwhile.
// The copy is a single file (rollback journal mode, no -wal beside it),
// checked with quick_check before it takes its name, and sealed as the
// database is: the master key is never in it. Throws DbError when `db` is not
// a tirai database, when `out` exists, or on any SQLite or disk failure (a
// half-written copy is removed).
BackupReport backup_database(const std::filesystem::path& db, const std::filesystem::path& out);

}  // namespace tirai::store
