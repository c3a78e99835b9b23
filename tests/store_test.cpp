#include "store/store.hpp"
#include "support/keys.hpp"
#include "support/session_records.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <sqlite3.h>

#include <stdexcept>

using namespace tirai;
using store::Store;
using proto::Role;

namespace {

store::SessionRecord new_session(Store& st, std::int64_t talent_id, std::string_view number) {
  auto r = test::session_record(talent_id, st.client_for_number(number, 1000));
  st.insert_session(r);
  return r;
}

// A store in a fresh folder, with the talent "natasha" and one session of hers.
struct OneSession {
  test::TempDir dir;
  crypto::Keyring keys = test::random_keyring();
  Store st{dir.path() / "t.db", store::Synchronous::normal, keys};
  store::SessionRecord s = [this] {
    if (!st.add_talent("natasha", "hash", 1)) throw std::runtime_error("natasha could not be enrolled");
    return new_session(st, st.talent("natasha")->id, "+6281234567890");
  }();
};

// Two sessions of natasha's, with different clients.
struct TwoSessions : OneSession {
  store::SessionRecord b = new_session(st, st.talent("natasha")->id, "+6281111111111");
  // Messages "m1".."m<n>" in both sessions, interleaved in arrival order
  // (rows 1..2n): b's all from the client, a's from the client but every
  // third from the talent; texts "a<i>" and "b<i>".
  void interleave(int n) {
    for (int i = 1; i <= n; ++i) {
      const auto id = "m" + std::to_string(i);
      REQUIRE(st.append(s.id, i % 3 ? Role::client : Role::talent, id, "a" + std::to_string(i), 2000 + i)->seq == i);
      REQUIRE(st.append(b.id, Role::client, id, "b" + std::to_string(i), 2000 + i)->seq == i);
    }
  }
};

}  // namespace

TEST_CASE("migrations build the schema in an empty file and are idempotent", "[store]") {
  test::TempDir dir;
  const auto keys = test::random_keyring();
  {
    Store st(dir.path() / "t.db", store::Synchronous::normal, keys);
    CHECK(st.db().pragma_int("user_version") == store::schema_version());
    CHECK(st.db().pragma_int("application_id") == 0x54495241);
    CHECK(st.db().pragma_int("secure_delete") == 1);
    CHECK(st.add_talent("natasha", "hash", 1));
  }
  Store again(dir.path() / "t.db", store::Synchronous::normal, keys);
  CHECK(again.talents().size() == 1);
}

TEST_CASE("a file from another application is refused", "[store]") {
  test::TempDir dir;
  {
    store::Database db(dir.path() / "other.db", store::Synchronous::normal);
    db.exec("CREATE TABLE x(y); PRAGMA user_version = 3; PRAGMA application_id = 42");
  }
  const auto keys = test::random_keyring();
  CHECK_THROWS_AS(Store(dir.path() / "other.db", store::Synchronous::normal, keys), store::DbError);
}

TEST_CASE("a failed transaction rolls back everything in it", "[store]") {
  test::TempDir dir;
  const auto keys = test::random_keyring();
  Store st(dir.path() / "t.db", store::Synchronous::normal, keys);
  try {
    store::Transaction tx(st.db());
    CHECK(st.add_talent("natasha", "hash", 1));
    st.db().exec("INSERT INTO no_such_table VALUES(1)");
    tx.commit();
  } catch (const store::DbError&) {
  }
  CHECK(st.talents().empty());

  // A savepoint undoes only its own writes.
  {
    store::Transaction tx(st.db());
    CHECK(st.add_talent("kept", "hash", 1));
    {
      store::Savepoint sp(st.db());
      CHECK(st.add_talent("dropped", "hash", 1));
    }
    tx.commit();
  }
  const auto talents = st.talents();
  REQUIRE(talents.size() == 1);
  CHECK(talents[0].alias == "kept");
}

TEST_CASE("messages get per-session seqs, duplicates keep their first seq, acks clear bodies", "[store]") {
  test::TempDir dir;
  const auto keys = test::random_keyring();
  Store st(dir.path() / "t.db", store::Synchronous::normal, keys);
  REQUIRE(st.add_talent("natasha", "hash", 1));
  const auto tid = st.talent("natasha")->id;
  const auto s = new_session(st, tid, "+6281234567890");

  auto a = st.append(s.id, Role::client, "c1", "halo", 2000);
  auto b = st.append(s.id, Role::talent, "t1", "halo juga", 2001);
  auto dup = st.append(s.id, Role::client, "c1", "halo (retry)", 2002);
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(dup);
  CHECK(a->seq == 1);
  CHECK(b->seq == 2);
  CHECK(dup->seq == 1);
  CHECK(dup->duplicate);
  CHECK(dup->sent_at == 2000);
  CHECK(st.session(s.id)->state == proto::SessionState::active);
  CHECK(st.session(s.id)->message_count == 2);

  auto to_talent = st.pending(s.id, Role::talent);
  REQUIRE(to_talent.size() == 1);
  CHECK(to_talent[0].text == "halo");
  CHECK(to_talent[0].sender == Role::client);
  st.ack(s.id, Role::talent, 1);
  CHECK(st.pending(s.id, Role::talent).empty());
  CHECK(st.pending(s.id, Role::client).size() == 1);

  // The seq counter and the record of send ids survive a fresh Store on the
  // same file.
  st.drop_caches();
  CHECK(st.append(s.id, Role::client, "c2", "lagi", 2003)->seq == 3);
  st.drop_caches();
  auto again = st.append(s.id, Role::client, "c1", "halo (after a restart)", 2004);
  REQUIRE(again);
  CHECK(again->duplicate);
  CHECK(again->seq == 1);
  CHECK(again->sent_at == 2000);
  // The same id from the other side is another message.
  auto other_side = st.append(s.id, Role::talent, "c1", "bukan duplikat", 2005);
  CHECK_FALSE(other_side->duplicate);
  CHECK(other_side->seq == 4);
}

TEST_CASE("acks clear only what they cover: in steps, out of order, ahead of the messages", "[store]") {
  OneSession w;
  auto& st = w.st;
  const auto& s = w.s;
  auto seqs_pending = [&] {
    std::vector<std::int64_t> out;
    for (const auto& m : st.pending(s.id, Role::talent)) out.push_back(m.seq);
    return out;
  };
  for (int i = 1; i <= 6; ++i) st.append(s.id, Role::client, "c" + std::to_string(i), "pesan", 2000 + i);
  st.append(s.id, Role::talent, "t1", "balas", 2010);  // seq 7, the other direction

  st.ack(s.id, Role::talent, 2);
  CHECK(seqs_pending() == std::vector<std::int64_t>{3, 4, 5, 6});
  st.ack(s.id, Role::talent, 1);  // behind the last ack: nothing changes
  CHECK(seqs_pending() == std::vector<std::int64_t>{3, 4, 5, 6});
  st.ack(s.id, Role::talent, 4);
  CHECK(seqs_pending() == std::vector<std::int64_t>{5, 6});
  // An ack ahead of what exists clears what exists; a message stored after it
  // is still cleared by its own ack.
  st.ack(s.id, Role::talent, 100);
  CHECK(seqs_pending().empty());
  st.append(s.id, Role::client, "c7", "lagi", 2020);  // seq 8
  CHECK(seqs_pending() == std::vector<std::int64_t>{8});
  st.ack(s.id, Role::talent, 8);
  CHECK(seqs_pending().empty());
  // The talent's own message is the client's to ack.
  CHECK(st.pending(s.id, Role::client).size() == 1);
  // After a restart (caches gone) acks still work from the file alone.
  st.append(s.id, Role::client, "c8", "lagi", 2021);  // seq 9
  st.clear_acked(100);  // as the store worker does before it commits
  st.drop_caches();
  st.ack(s.id, Role::talent, 9);
  CHECK(seqs_pending().empty());
}

TEST_CASE("an ack hides messages at once, and their bodies are cleared later, oldest row first", "[store]") {
  TwoSessions w;
  auto& st = w.st;
  const auto& a = w.s;
  const auto& b = w.b;
  for (int i = 1; i <= 10; ++i) {
    st.append(a.id, Role::client, "a" + std::to_string(i), "pesan", 2000 + i);
    st.append(b.id, Role::client, "b" + std::to_string(i), "pesan", 2000 + i);
  }
  st.append(b.id, Role::talent, "t1", "balas", 2100);  // b's seq 11, to the client
  auto bodies = [&](const std::string& session) {
    auto& q = st.db().cached("SELECT count(*) FROM messages WHERE session_id = ? AND body IS NOT NULL");
    q.bind(1, session);
    REQUIRE(q.step());
    const auto n = q.int64(0);
    q.reset();
    return n;
  };
  st.ack(a.id, Role::talent, 10);
  st.ack(b.id, Role::talent, 11);  // seq 11 is the talent's own: not cleared by her ack
  CHECK(st.pending(a.id, Role::talent).empty());
  CHECK(st.pending(b.id, Role::talent).empty());
  CHECK(st.acked_uncleared() == 20);
  CHECK(bodies(a.id) == 10);
  // A budget of 6 takes the oldest rows first, whichever session they are in.
  CHECK(st.clear_acked(6) == 6);
  CHECK(bodies(a.id) == 7);
  CHECK(bodies(b.id) == 8);
  CHECK(st.clear_acked(100) == 14);
  CHECK(bodies(a.id) == 0);
  CHECK(bodies(b.id) == 1);
  CHECK(st.pending(b.id, Role::client).size() == 1);
  CHECK(st.acked_uncleared() == 0);
  CHECK(st.clear_acked(100) == 0);

  // An ack not yet cleared when the transaction rolls back (the caches are
  // dropped) is forgotten: the messages are pending again, not lost.
  for (int i = 11; i <= 13; ++i) st.append(a.id, Role::client, "a" + std::to_string(i), "pesan", 3000 + i);
  st.ack(a.id, Role::talent, 13);
  st.drop_caches();
  CHECK(st.acked_uncleared() == 0);
  CHECK(st.pending(a.id, Role::talent).size() == 3);
  // A teardown deletes rows waiting to be cleared; their ids are not given to
  // new rows, so clearing them later touches nothing else.
  st.ack(a.id, Role::talent, 13);
  REQUIRE(st.teardown(a.id, "expired", 9000));
  st.append(b.id, Role::client, "b12", "baru", 9001);  // b's seq 12: the newest row
  CHECK(st.clear_acked(100) == 3);
  CHECK(bodies(b.id) == 2);  // the talent's seq 11 (never acked by the client) and b12
  CHECK(st.pending(b.id, Role::talent).size() == 1);
  CHECK(st.pending(b.id, Role::talent).front().text == "baru");
}

TEST_CASE("clearing runs of acked rows stops at every row not acked", "[store]") {
  TwoSessions w;
  auto& st = w.st;
  const auto& a = w.s;
  const auto& b = w.b;
  // Rows 1..300 in arrival order: b's client messages, and in a every third
  // one the talent's (to the client, never acked) between the client's.
  w.interleave(150);
  st.ack(a.id, Role::talent, 150);
  st.ack(b.id, Role::talent, 150);
  CHECK(st.acked_uncleared() == 100 + 150);
  // Acked "after" an hour ago: nothing is settled yet.
  CHECK(st.clear_acked(1000, 0, std::chrono::steady_clock::now() - std::chrono::hours(1)) == 0);
  // Spared: all but the oldest ten rows (of which a3 is the talent's).
  CHECK(st.clear_acked(1000, 300 - 10) == 9);
  CHECK(st.clear_acked(1000, 300 - 10) == 0);
  // Runs of three rows between the talent's; budgets that end inside a run.
  CHECK(st.clear_acked(7) == 7);
  CHECK(st.clear_acked(1) == 1);
  CHECK(st.clear_acked(1000) == 250 - 8 - 9);
  auto& q = st.db().cached("SELECT session_id, seq, body IS NULL FROM messages ORDER BY id");
  int rows = 0;
  while (q.step()) {
    ++rows;
    const bool talents = q.text(0) == a.id && q.int64(1) % 3 == 0;
    INFO("session " << q.text(0) << " seq " << q.int64(1));
    CHECK((q.int64(2) != 0) == !talents);
  }
  q.reset();
  CHECK(rows == 300);
  CHECK(st.pending(a.id, Role::client).size() == 50);
  CHECK(st.pending(a.id, Role::client).back().text == "a150");
}

TEST_CASE("the first body to clear is the first row in the file, with its own ack time", "[store]") {
  // The idle store worker sleeps until this ack is clear_settle old.
  using std::chrono::steady_clock;
  TwoSessions w;
  auto& st = w.st;
  w.interleave(3);  // rows 1..6: a1 b1 a2 b2 a3 b3 (a3 from the talent)
  CHECK(st.first_uncleared_acked_at() == steady_clock::time_point::max());
  const auto before_b = steady_clock::now();
  st.ack(w.b.id, Role::talent, 3);
  const auto b_acked = st.first_uncleared_acked_at();
  CHECK(b_acked >= before_b);
  CHECK(b_acked <= steady_clock::now());
  // a's row 1 comes before b's rows in the file: its later ack is first.
  const auto before_a = steady_clock::now();
  st.ack(w.s.id, Role::talent, 3);
  CHECK(st.first_uncleared_acked_at() >= before_a);
  CHECK(st.clear_acked(1) == 1);  // row 1
  CHECK(st.first_uncleared_acked_at() == b_acked);
  CHECK(st.clear_acked(100) == 4);  // b1 a2 b2 b3
  CHECK(st.first_uncleared_acked_at() == steady_clock::time_point::max());
}

TEST_CASE("interleaved sessions keep their own seqs, retries and queues, also after a restart", "[store]") {
  TwoSessions w;
  auto& st = w.st;
  const auto& a = w.s;
  const auto& b = w.b;
  // Rows are in arrival order, the two sessions' messages interleaved; enough
  // of them that the send-id tables grow several times.
  w.interleave(1500);
  st.ack(a.id, Role::talent, 1000);  // a's client messages up to 1000
  CHECK(st.clear_acked(10000) == 1000 - 333);
  const auto check = [&] {
    for (int i = 7; i <= 1500; i += 7) {
      const auto id = "m" + std::to_string(i);
      const auto again = st.append(a.id, i % 3 ? Role::client : Role::talent, id, "retry", 9000);
      REQUIRE(again);
      CHECK(again->duplicate);
      CHECK(again->seq == i);
      CHECK(again->sent_at == 2000 + i);
    }
    // The same id from the other side of a is a new message; b's are b's.
    CHECK(st.session(a.id)->message_count == 1500);
    CHECK(st.session(b.id)->message_count == 1500);
    const auto to_talent = st.pending(a.id, Role::talent);
    REQUIRE(to_talent.size() == 500 - 167);  // client messages 1001..1500 (i % 3 != 0)
    CHECK(to_talent.front().seq == 1001);
    CHECK(to_talent.front().text == "a1001");
    CHECK(to_talent.back().seq == 1499);
    CHECK(st.pending(a.id, Role::client).size() == 500);  // the talent's, never acked
    CHECK(st.pending(b.id, Role::talent).size() == 1500);
  };
  check();
  st.drop_caches();  // as after a start: positions read back from the table
  check();
  // Teardown deletes its session's rows and no other's.
  REQUIRE(st.teardown(a.id, "expired", 9500));
  auto& rows = st.db().cached("SELECT session_id, count(*) FROM messages GROUP BY session_id");
  REQUIRE(rows.step());
  CHECK(rows.text(0) == b.id);
  CHECK(rows.int64(1) == 1500);
  CHECK_FALSE(rows.step());
  CHECK(st.session(a.id)->message_count == 1500);
  st.drop_caches();
  CHECK(st.append(b.id, Role::client, "m1501", "lagi", 9600)->seq == 1501);
}

TEST_CASE("resume tickets are kept by hash until expiry, logout, teardown or the talent's removal", "[store]") {
  test::TempDir dir;
  const auto keys = test::random_keyring();
  Store st(dir.path() / "t.db", store::Synchronous::normal, keys);
  REQUIRE(st.add_talent("natasha", "hash", 1));
  const auto s = new_session(st, st.talent("natasha")->id, "+6281234567890");
  const auto h = [](std::uint8_t b) { return crypto::Bytes(32, b); };
  st.save_ticket({h(1), 0, "natasha", 1000});
  st.save_ticket({h(2), 0, "natasha", 50});
  st.save_ticket({h(3), 1, s.id, 1000});
  st.save_ticket({h(4), 1, s.id, 1000});
  auto kept = st.tickets(100);  // the one expired at 50 is deleted
  CHECK(kept.size() == 3);
  CHECK(st.tickets(0).size() == 3);
  st.delete_ticket(h(4));
  REQUIRE(st.teardown(s.id, "ended_by_talent", 200));
  kept = st.tickets(100);
  REQUIRE(kept.size() == 1);
  CHECK((kept[0].hash == h(1) && kept[0].role == 0 && kept[0].owner == "natasha" && kept[0].expires_at == 1000));
  st.save_ticket({h(5), 0, "natasha", 1000});
  st.delete_tickets(0, "natasha");
  CHECK(st.tickets(100).empty());
  st.save_ticket({h(6), 0, "natasha", 1000});
  REQUIRE(st.remove_talent(st.talent("natasha")->id));
  CHECK(st.tickets(100).empty());
}

TEST_CASE("schema 6 moves queued messages into arrival order and keeps them whole", "[store]") {
  test::TempDir dir;
  const auto keys = test::random_keyring();
  const auto path = dir.path() / "t.db";
  std::string sid;
  {
    // A schema-5 file with a live session and three queued messages, the
    // bodies sealed as tirai sealed them then.
    Store st(path, store::Synchronous::normal, keys);
    REQUIRE(st.add_talent("natasha", "hash", 1));
    const auto s = new_session(st, st.talent("natasha")->id, "+6281234567890");
    sid = s.id;
    REQUIRE(st.append(s.id, Role::client, "c1", "satu", 2001));
    REQUIRE(st.append(s.id, Role::talent, "t1", "dua", 2002));
    REQUIRE(st.append(s.id, Role::client, "c2", "tiga", 2003));
  }
  {
    store::Database db(path, store::Synchronous::normal);
    db.exec(
        "CREATE TABLE old_messages (session_id TEXT NOT NULL, seq INTEGER NOT NULL, sender INTEGER NOT NULL, "
        "send_id TEXT NOT NULL, sent_at INTEGER NOT NULL, body BLOB, redacted INTEGER NOT NULL DEFAULT 0, "
        "PRIMARY KEY (session_id, seq)) WITHOUT ROWID;"
        "INSERT INTO old_messages SELECT session_id, seq, sender, send_id, sent_at, body, redacted FROM messages "
        "ORDER BY id DESC;"
        "DROP TABLE messages; ALTER TABLE old_messages RENAME TO messages; DROP TABLE resume_tickets; "
        "ALTER TABLE sms_outbox DROP COLUMN text_ct; DROP INDEX sms_outbox_by_session; "
        "ALTER TABLE sms_outbox DROP COLUMN session_id; "
        "ALTER TABLE sessions DROP COLUMN call_minutes; ALTER TABLE sessions DROP COLUMN first_contact; "
        "ALTER TABLE sessions DROP COLUMN client_contacted; ALTER TABLE sessions DROP COLUMN call_seconds; "
        "PRAGMA user_version = 5;");
  }
  Store st(path, store::Synchronous::normal, keys);
  CHECK(st.db().pragma_int("user_version") == store::schema_version());
  auto& order = st.db().cached("SELECT seq FROM messages ORDER BY id");
  std::vector<std::int64_t> seqs;
  while (order.step()) seqs.push_back(order.int64(0));
  CHECK(seqs == std::vector<std::int64_t>{1, 2, 3});
  const auto to_talent = st.pending(sid, Role::talent);
  REQUIRE(to_talent.size() == 2);
  CHECK(to_talent[0].text == "satu");
  CHECK(to_talent[1].text == "tiga");
  CHECK(st.session(sid)->message_count == 3);
  CHECK(st.append(sid, Role::client, "c2", "tiga (retry)", 2004)->duplicate);
  CHECK(st.append(sid, Role::client, "c3", "empat", 2005)->seq == 4);
}

TEST_CASE("the WAL is checkpointed and reused while statements are left stepped", "[store]") {
  OneSession w;
  auto& st = w.st;
  st.db().exec("PRAGMA wal_autocheckpoint = 100");
  const auto wal = std::filesystem::path((w.dir.path() / "t.db").string() + "-wal");
  // As the store worker does: groups in transactions; the session lookup
  // (a one-row SELECT) is left stepped, as single-row reads are.
  for (int group = 0; group < 400; ++group) {
    store::Transaction tx(st.db());
    for (int i = 0; i < 20; ++i)
      REQUIRE(st.append(w.s.id, Role::client, fmt::format("g{}-{}", group, i), "halo", 2000 + group));
    REQUIRE(st.session(w.s.id));
    tx.commit();
  }
  // 8,000 messages: far more than 100 pages of WAL were written. A pinned
  // snapshot left the database file at its first page and the WAL growing.
  CHECK(std::filesystem::file_size(w.dir.path() / "t.db") > 100 * 4096);
  CHECK(std::filesystem::file_size(wal) < 200 * (4096 + 24));
}

TEST_CASE("teardown deletes queue, token hash, alias and data key, the session then takes nothing", "[store]") {
  OneSession w;
  auto& st = w.st;
  const auto& s = w.s;
  REQUIRE(st.append(s.id, Role::client, "c1", "halo", 2000));
  CHECK(st.teardown(s.id, "ended_by_talent", 3000));
  CHECK_FALSE(st.teardown(s.id, "ended_by_talent", 3001));
  const auto rec = st.session(s.id);
  REQUIRE(rec);
  CHECK(rec->state == proto::SessionState::closed);
  CHECK(rec->close_reason == "ended_by_talent");
  CHECK(rec->client_alias.empty());
  CHECK(rec->token_hash.empty());
  CHECK(rec->message_count == 1);
  st.drop_caches();
  CHECK_FALSE(st.append(s.id, Role::client, "c2", "still there?", 3002));
  CHECK(st.pending(s.id, Role::talent).empty());
  CHECK(st.live_sessions().empty());
  CHECK(st.purge_closed(3000) == 0);
  CHECK(st.purge_closed(3001) == 1);
  CHECK_FALSE(st.session(s.id));
}

TEST_CASE("a client alias is taken only among the talent's live sessions, looked up by index", "[store]") {
  OneSession w;
  auto& st = w.st;
  const auto natasha = st.talent("natasha")->id;
  REQUIRE(st.add_talent("maya", "hash", 1));
  CHECK(st.client_alias_in_use(natasha, "guest-abcd"));
  CHECK_FALSE(st.client_alias_in_use(natasha, "guest-wxyz"));
  CHECK_FALSE(st.client_alias_in_use(st.talent("maya")->id, "guest-abcd"));
  CHECK(st.teardown(w.s.id, "ended_by_talent", 3000));
  CHECK_FALSE(st.client_alias_in_use(natasha, "guest-abcd"));
  // Every booking asks this (Store::client_alias_in_use): the partial index
  // of live sessions answers it, so a talent's closed sessions on record do
  // not make each booking slower.
  auto& plan = st.db().cached(
      "EXPLAIN QUERY PLAN SELECT 1 FROM sessions WHERE talent_id = ? AND client_alias = ? AND state != 'closed' "
      "LIMIT 1");
  std::string details;
  while (plan.step()) details += plan.text(3) + "\n";
  CHECK_THAT(details, Catch::Contains("USING INDEX sessions_live_alias (talent_id=? AND client_alias=?)"));
}

TEST_CASE("numbers and queued texts are never in clear in the database files", "[store][privacy]") {
  test::TempDir dir;
  const auto keys = test::random_keyring();
  const std::string canary_number = "+6289990001234";
  const std::string canary_text = "CANARY-TEXT-7d1e";
  const auto db = dir.path() / "t.db";
  Store st(db, store::Synchronous::normal, keys);
  REQUIRE(st.add_talent("natasha", "hash", 1));
  const auto s = new_session(st, st.talent("natasha")->id, canary_number);
  REQUIRE(st.append(s.id, Role::client, "c1", canary_text, 2000));
  CHECK(st.client_number(s.client_id) == canary_number);
  // An SMS notice may carry the session link (send_link): sealed too.
  const std::string canary_link = "http://relay.example/s/#CANARY-TOKEN-4f2a";
  REQUIRE(st.add_sms_notice(s.client_id, "+6281100000001", canary_link, 2001) > 0);
  CHECK(st.sms_notices().at(0).text == canary_link);
  for (const std::filesystem::path& f : {db, std::filesystem::path(db.string() + "-wal")}) {
    CHECK_FALSE(test::file_contains(f, canary_number));
    CHECK_FALSE(test::file_contains(f, canary_number.substr(1)));
    CHECK_FALSE(test::file_contains(f, canary_text));
    CHECK_FALSE(test::file_contains(f, "CANARY-TOKEN-4f2a"));
  }
  // The same number maps to the same client through the blind index.
  CHECK(st.client_for_number(canary_number, 5) == s.client_id);
}

TEST_CASE("an erased talent's alias is retired for good", "[store][privacy]") {
  test::TempDir dir;
  const auto keys = test::random_keyring();
  Store st(dir.path() / "t.db", store::Synchronous::normal, keys);
  REQUIRE(st.add_talent("natasha", "hash", 1));
  const auto s = new_session(st, st.talent("natasha")->id, "+6281234567890");
  REQUIRE(st.teardown(s.id, "talent_removed", 2));
  CHECK(st.remove_talent(st.talent("natasha")->id));
  CHECK_FALSE(st.talent("natasha"));
  CHECK_FALSE(st.session(s.id));
  // Only a keyed hash of the alias is kept, once the WAL is checkpointed.
  st.db().checkpoint_truncate();
  CHECK_FALSE(test::file_contains(dir.path() / "t.db", "natasha"));
  CHECK_FALSE(test::file_contains(dir.path() / "t.db-wal", "natasha"));
  CHECK_FALSE(st.add_talent("natasha", "hash", 3));
  CHECK(st.add_talent("natasha2", "hash", 3));
}

TEST_CASE("erasing a client tears down their sessions and leaves no trace of them", "[store][privacy]") {
  test::TempDir dir;
  const auto keys = test::random_keyring();
  Store st(dir.path() / "t.db", store::Synchronous::normal, keys);
  REQUIRE(st.add_talent("natasha", "hash", 1));
  const auto tid = st.talent("natasha")->id;
  const auto live = new_session(st, tid, "+6281234567890");
  const auto old = new_session(st, tid, "+6281234567890");
  const auto other = new_session(st, tid, "+6281111111111");
  REQUIRE(st.teardown(old.id, "expired", 5));
  REQUIRE(st.append(live.id, Role::client, "c1", "halo", 6));

  const auto ended = st.erase_client("+6281234567890", 7);
  CHECK(ended == std::vector<std::string>{live.id});
  CHECK_FALSE(st.find_client("+6281234567890"));
  CHECK_FALSE(st.client_number(live.client_id));
  CHECK_FALSE(st.session(live.id));
  CHECK_FALSE(st.session(old.id));
  CHECK(st.session(other.id));
  CHECK(st.erase_client("+6289999999999", 8).empty());  // unknown: nothing happens
  // Booking the number again starts a clean client.
  CHECK(st.client_for_number("+6281234567890", 9) != live.client_id);
}

TEST_CASE("rekey: the old master key opens nothing, the new one everything", "[store][privacy]") {
  test::TempDir dir;
  const auto db = dir.path() / "t.db";
  const auto old_keys = test::random_keyring();
  const auto new_keys = test::random_keyring();
  std::string session;
  std::int64_t client = 0;
  {
    Store st(db, store::Synchronous::normal, old_keys);
    REQUIRE(st.add_talent("natasha", "hash", 1));
    const auto s = new_session(st, st.talent("natasha")->id, "+6281234567890");
    session = s.id;
    client = s.client_id;
    REQUIRE(st.append(s.id, Role::client, "c1", "queued before rotation", 2));
    REQUIRE(st.teardown(s.id, "talent_removed", 2));
    REQUIRE(st.remove_talent(st.talent("natasha")->id));
    REQUIRE(st.add_talent("natasha", "hash", 1) == false);
    REQUIRE(st.add_talent("bella", "hash", 1));
    const auto s2 = new_session(st, st.talent("bella")->id, "+6281234567890");
    session = s2.id;
    REQUIRE(st.append(s2.id, Role::client, "c1", "queued before rotation", 2));
    store::Transaction tx(st.db());
    st.rekey(new_keys);
    tx.commit();
  }
  CHECK_THROWS_WITH(Store(db, store::Synchronous::normal, old_keys), Catch::Contains("master key does not open"));
  Store st(db, store::Synchronous::normal, new_keys);
  CHECK(st.find_client("+6281234567890") == client);
  CHECK(st.client_number(client) == "+6281234567890");
  auto pending = st.pending(session, Role::talent);
  REQUIRE(pending.size() == 1);
  CHECK(pending[0].text == "queued before rotation");
  CHECK_FALSE(st.add_talent("natasha", "hash", 3));  // still retired
}
