#include "crypto/random.hpp"
#include "store/store.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>

using namespace tirai;
using store::Store;
using proto::Role;

namespace {

crypto::Keyring test_keys() {
  auto b = crypto::random_bytes(32);
  return crypto::Keyring(crypto::Secret(b.data(), b.size()));
}

store::SessionRecord new_session(Store& st, std::int64_t talent_id, std::string_view number) {
  store::SessionRecord r;
  r.id = crypto::new_session_id();
  r.talent_id = talent_id;
  r.client_id = st.client_for_number(number, 1000);
  r.client_alias = "guest-abcd";
  r.package = "chat-30m";
  r.channels = {"chat"};
  r.state = proto::SessionState::open;
  r.booked_at = 1000;
  r.expires_at = 1000 + 1'800'000;
  r.token_hash = crypto::random_bytes(32);
  st.insert_session(r);
  return r;
}

}  // namespace

TEST_CASE("migrations build the schema in an empty file and are idempotent", "[store]") {
  test::TempDir dir;
  const auto keys = test_keys();
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
  const auto keys = test_keys();
  CHECK_THROWS_AS(Store(dir.path() / "other.db", store::Synchronous::normal, keys), store::DbError);
}

TEST_CASE("a failed transaction rolls back everything in it", "[store]") {
  test::TempDir dir;
  const auto keys = test_keys();
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
  const auto keys = test_keys();
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

  // The seq counter survives a fresh Store on the same file.
  st.drop_caches();
  CHECK(st.append(s.id, Role::client, "c2", "lagi", 2003)->seq == 3);
}

TEST_CASE("teardown deletes queue, token hash, alias and data key; the session then takes nothing", "[store]") {
  test::TempDir dir;
  const auto keys = test_keys();
  Store st(dir.path() / "t.db", store::Synchronous::normal, keys);
  REQUIRE(st.add_talent("natasha", "hash", 1));
  const auto s = new_session(st, st.talent("natasha")->id, "+6281234567890");
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

TEST_CASE("numbers and queued texts are never in clear in the database files", "[store][privacy]") {
  test::TempDir dir;
  const auto keys = test_keys();
  const std::string canary_number = "+6289990001234";
  const std::string canary_text = "CANARY-TEXT-7d1e";
  const auto db = dir.path() / "t.db";
  Store st(db, store::Synchronous::normal, keys);
  REQUIRE(st.add_talent("natasha", "hash", 1));
  const auto s = new_session(st, st.talent("natasha")->id, canary_number);
  REQUIRE(st.append(s.id, Role::client, "c1", canary_text, 2000));
  CHECK(st.client_number(s.client_id) == canary_number);
  for (const std::filesystem::path& f : {db, std::filesystem::path(db.string() + "-wal")}) {
    CHECK_FALSE(test::file_contains(f, canary_number));
    CHECK_FALSE(test::file_contains(f, canary_number.substr(1)));
    CHECK_FALSE(test::file_contains(f, canary_text));
  }
  // The same number maps to the same client through the blind index.
  CHECK(st.client_for_number(canary_number, 5) == s.client_id);
}
