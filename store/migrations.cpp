#include "store/database.hpp"

#include <fmt/format.h>

#include <array>

namespace tirai::store {

namespace {

// Each step brings the schema from version i to i+1. Never edit a released
// step; append a new one.
constexpr std::array<std::string_view, 9> steps = {
    R"sql(
CREATE TABLE talents (
  id          INTEGER PRIMARY KEY,
  alias       TEXT NOT NULL UNIQUE,
  secret_hash TEXT NOT NULL,
  created_at  INTEGER NOT NULL
);
-- Aliases of erased talents, as keyed hashes, so nobody can take them over.
CREATE TABLE retired_aliases (
  hash BLOB PRIMARY KEY
) WITHOUT ROWID;
-- Sealed values that prove the master key (key_check) and hold wrapped keys.
CREATE TABLE meta (
  name  TEXT PRIMARY KEY,
  value BLOB NOT NULL
) WITHOUT ROWID;
-- A client is its blind index, a per-person key sealed under the data-key
-- wrapping key, and its number sealed under that per-person key. Erasure
-- deletes the row, and with it the only copy of the person's key.
CREATE TABLE clients (
  id          INTEGER PRIMARY KEY,
  blind_index BLOB NOT NULL UNIQUE,
  person_key  BLOB NOT NULL,
  number_ct   BLOB NOT NULL,
  created_at  INTEGER NOT NULL
);
-- Live sessions, and after teardown their minimal record (no alias mapping,
-- no token hash, no data key) until retention purges it.
CREATE TABLE sessions (
  id            TEXT PRIMARY KEY,
  talent_id     INTEGER NOT NULL REFERENCES talents(id),
  client_id     INTEGER NOT NULL REFERENCES clients(id),
  client_alias  TEXT,
  package       TEXT NOT NULL,
  channels      TEXT NOT NULL,
  max_messages  INTEGER,
  state         TEXT NOT NULL,
  close_reason  TEXT,
  booked_at     INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL,
  closing_until INTEGER,
  closed_at     INTEGER,
  warned        INTEGER NOT NULL DEFAULT 0,
  message_count INTEGER NOT NULL DEFAULT 0,
  token_hash    BLOB UNIQUE,
  data_key      BLOB
) WITHOUT ROWID;
CREATE INDEX sessions_by_talent ON sessions(talent_id);
CREATE INDEX sessions_by_state ON sessions(state);
-- The envelope stays until teardown so a retried send id gets its first seq;
-- the body (sealed under the session's data key) is cleared on ack.
CREATE TABLE messages (
  session_id TEXT NOT NULL,
  seq        INTEGER NOT NULL,
  sender     INTEGER NOT NULL,  -- 0 talent, 1 client
  send_id    TEXT NOT NULL,
  sent_at    INTEGER NOT NULL,
  body       BLOB,
  PRIMARY KEY (session_id, seq),
  UNIQUE (session_id, sender, send_id)
) WITHOUT ROWID;
)sql",
    // 2: client standing (verification, restriction) and ratings.
    R"sql(
ALTER TABLE clients ADD COLUMN verified_at INTEGER;
ALTER TABLE clients ADD COLUMN verify_method TEXT;
-- NULL: the rating rule decides; 1: restricted by hand; 0: released by hand.
ALTER TABLE clients ADD COLUMN restricted INTEGER;
-- One rating per session, by its talent; who rated is not kept with it.
CREATE TABLE ratings (
  session_id TEXT PRIMARY KEY,
  client_id  INTEGER NOT NULL REFERENCES clients(id),
  score      INTEGER NOT NULL,
  rated_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX ratings_by_client ON ratings(client_id);
-- The package's idle timeout, kept with the session so a reload cannot change it.
ALTER TABLE sessions ADD COLUMN idle_timeout INTEGER NOT NULL DEFAULT 0;
-- Set when the contact guard replaced part of the text with [hidden].
ALTER TABLE messages ADD COLUMN redacted INTEGER NOT NULL DEFAULT 0;
)sql",
    // 3: proxy numbers (SMS through Kannel).
    R"sql(
-- The pool number a live session's client writes to; cleared at teardown.
ALTER TABLE sessions ADD COLUMN proxy_number TEXT;
CREATE INDEX sessions_by_client ON sessions(client_id);
-- The proxy number of a client's last session with a talent, for sticky
-- selection; purged with the session records, deleted on erasure.
CREATE TABLE sms_sticky (
  client_id    INTEGER NOT NULL REFERENCES clients(id),
  talent_id    INTEGER NOT NULL REFERENCES talents(id),
  proxy_number TEXT NOT NULL,
  used_at      INTEGER NOT NULL,
  PRIMARY KEY (client_id, talent_id)
) WITHOUT ROWID;
-- Relay notices to SMS clients (expiry warning, session ended) until Kannel
-- accepts them. The number is not here: it is read from clients when sent.
CREATE TABLE sms_outbox (
  id           INTEGER PRIMARY KEY,
  client_id    INTEGER NOT NULL REFERENCES clients(id),
  proxy_number TEXT NOT NULL,
  text         TEXT NOT NULL,
  created_at   INTEGER NOT NULL
);
)sql",
    // 4: no unique index on send ids. A retried send id is found through the
    // store's own record of each live session's ids (read from this table on
    // first use after a start), so that a message is one B-tree insert.
    R"sql(
CREATE TABLE messages_new (
  session_id TEXT NOT NULL,
  seq        INTEGER NOT NULL,
  sender     INTEGER NOT NULL,  -- 0 talent, 1 client
  send_id    TEXT NOT NULL,
  sent_at    INTEGER NOT NULL,
  body       BLOB,
  redacted   INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
INSERT INTO messages_new(session_id, seq, sender, send_id, sent_at, body, redacted)
  SELECT session_id, seq, sender, send_id, sent_at, body, redacted FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
)sql",
    // 5: a new booking's client alias is checked against the talent's live
    // sessions only, not every session the talent ever had on record.
    R"sql(
CREATE INDEX sessions_live_alias ON sessions(talent_id, client_alias) WHERE state != 'closed';
)sql",
    // 6: messages in arrival order. Consecutive messages of all sessions share
    // the newest page, so a commit of a few hundred messages writes a handful
    // of pages instead of one leaf per busy session. The store keeps each live
    // session's row ids in memory (read by one scan after a start), so no
    // index by session is needed.
    R"sql(
CREATE TABLE messages_new (
  id         INTEGER PRIMARY KEY,
  session_id TEXT NOT NULL,
  seq        INTEGER NOT NULL,
  sender     INTEGER NOT NULL,  -- 0 talent, 1 client
  send_id    TEXT NOT NULL,
  sent_at    INTEGER NOT NULL,
  redacted   INTEGER NOT NULL DEFAULT 0,
  body       BLOB
);
INSERT INTO messages_new(session_id, seq, sender, send_id, sent_at, redacted, body)
  SELECT session_id, seq, sender, send_id, sent_at, redacted, body FROM messages ORDER BY session_id, seq;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
)sql",
    // 7: resume tickets (a reloaded web page's hello), kept as their hash only.
    R"sql(
CREATE TABLE resume_tickets (
  hash       BLOB PRIMARY KEY,
  role       INTEGER NOT NULL,  -- 0 talent, 1 client
  owner      TEXT NOT NULL,     -- the talent's alias, or the client's session id
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX resume_tickets_owner ON resume_tickets(role, owner);
)sql",
    // 8: a notice may hold a secret (the session link of send_link): its text
    // is sealed under the client's person key, so it is erased with the
    // client, and such a notice names its session, so that it is deleted at
    // teardown if still queued. Rows from before keep their clear text until sent.
    R"sql(
ALTER TABLE sms_outbox ADD COLUMN text_ct BLOB;
ALTER TABLE sms_outbox ADD COLUMN session_id TEXT;
CREATE INDEX sms_outbox_by_session ON sms_outbox(session_id) WHERE session_id IS NOT NULL;
)sql",
    // 9: calls. A session keeps its package's call terms (a reload changes
    // only new bookings), whether the client has made contact yet (for
    // first_contact = "client", across a restart) and the call seconds used.
    R"sql(
ALTER TABLE sessions ADD COLUMN call_minutes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN first_contact TEXT NOT NULL DEFAULT 'either';
ALTER TABLE sessions ADD COLUMN client_contacted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN call_seconds INTEGER NOT NULL DEFAULT 0;
)sql",
};

// Whether `table` has `column` (the table must exist).
bool has_column(Database& db, std::string_view table, std::string_view column) {
  auto& s = db.cached(fmt::format("SELECT 1 FROM pragma_table_info('{}') WHERE name = ?", table));
  s.bind(1, column);
  const bool found = s.step();
  s.reset();
  return found;
}

bool has_table(Database& db, std::string_view table) {
  auto& s = db.cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
  s.bind(1, table);
  const bool found = s.step();
  s.reset();
  return found;
}

// Two steps were changed after a build with their first form had been
// committed (the rule above came after): databases made by those builds
// have the version but not all of its schema.
void repair_edited_steps(Database& db, std::int64_t version) {
  // Step 1 before per-person keys and erasure (the relay's first cut,
  // 2026-11-22): its client numbers were not sealed the way every later
  // build reads them, so nothing can bring it forward.
  if (version >= 1 && !has_table(db, "meta"))
    throw DbError(
        "sqlite: this database was made by a pre-release tirai (schema 1 before per-person keys, 2026-11-22) and "
        "cannot be upgraded: start on a new database file");
  // Step 8 before a texted session link named its session: the column and
  // its index, as step 8 has them now. The rows from then name none.
  if (version >= 8 && !has_column(db, "sms_outbox", "session_id")) {
    Transaction tx(db);
    db.exec(
        "ALTER TABLE sms_outbox ADD COLUMN session_id TEXT;"
        "CREATE INDEX sms_outbox_by_session ON sms_outbox(session_id) WHERE session_id IS NOT NULL;");
    tx.commit();
  }
}

}  // namespace

int schema_version() { return static_cast<int>(steps.size()); }

void migrate(Database& db) {
  const auto app = db.pragma_int("application_id");
  auto version = db.pragma_int("user_version");
  if (app != 0 && app != application_id)
    throw DbError(fmt::format("sqlite: not a tirai database (application_id {:#x})", app));
  if (app == 0 && version != 0) throw DbError("sqlite: not a tirai database (foreign schema)");
  if (version > schema_version())
    throw DbError(fmt::format("sqlite: database schema {} is newer than this tirai ({})", version,
                              schema_version()));
  repair_edited_steps(db, version);
  for (; version < schema_version(); ++version) {
    Transaction tx(db);
    db.exec(steps[static_cast<std::size_t>(version)]);
    db.exec(fmt::format("PRAGMA application_id = {}", application_id));
    db.exec(fmt::format("PRAGMA user_version = {}", version + 1));
    tx.commit();
  }
}

}  // namespace tirai::store
