// Unit tests for the SMS pieces: numbers, coding, charsets, the pool rule,
// the [sms] config, and the session manager's SMS routing with a fake gateway.
#include "crypto/random.hpp"
#include "proto/identifiers.hpp"
#include "proto/sms.hpp"
#include "relay/relay.hpp"
#include "store/store.hpp"
#include "support/keys.hpp"
#include "support/session_records.hpp"
#include "support/temp_dir.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace tirai;
using namespace std::chrono_literals;

TEST_CASE("numbers from the gateway normalise to E.164", "[sms][proto]") {
  using proto::normalise_number;
  CHECK(normalise_number("+6281234567890") == "+6281234567890");
  CHECK(normalise_number("006281234567890") == "+6281234567890");
  CHECK(normalise_number("6281234567890") == "+6281234567890");  // SMPP international without '+'
  CHECK_FALSE(normalise_number("081234567890"));                 // national, no country code set
  CHECK(normalise_number("081234567890", "62") == "+6281234567890");
  CHECK(normalise_number("0062 812-3456-7890", "62") == "+6281234567890");
  CHECK_FALSE(normalise_number("+62 812 34x6"));
  CHECK_FALSE(normalise_number("1234"));
  CHECK_FALSE(normalise_number(""));
  CHECK_FALSE(normalise_number("+0812345678"));
  CHECK_FALSE(normalise_number("+12345678901234567"));
}

TEST_CASE("SMS coding: GSM 7-bit when every character has a GSM form, else UCS-2", "[sms][proto]") {
  using proto::SmsCoding;
  CHECK(proto::sms_coding("halo kak, jam 9 bisa? @home_#1 (ok) 100%") == SmsCoding::gsm7);
  CHECK(proto::sms_coding("café Ñoño £5 €5 {x} [y] ~^|\\") == SmsCoding::gsm7);
  CHECK(proto::sms_coding("ΔΦΓΛΩΠΨΣΘΞ") == SmsCoding::gsm7);
  CHECK(proto::sms_coding("backtick `") == SmsCoding::ucs2);
  CHECK(proto::sms_coding("terima kasih 🙏") == SmsCoding::ucs2);
  CHECK(proto::sms_coding("ç lowercase is not GSM") == SmsCoding::ucs2);  // only Ç is
  CHECK(proto::sms_coding("Ñandú") == SmsCoding::ucs2);                   // ù is, ú is not
  CHECK(proto::sms_coding("“smart quotes”") == SmsCoding::ucs2);
}

TEST_CASE("SMS parts: 160/153 septets, 70/67 UTF-16 units, extension characters count twice", "[sms][proto]") {
  CHECK(proto::sms_parts("") == 0);
  CHECK(proto::sms_parts(std::string(160, 'a')) == 1);
  CHECK(proto::sms_parts(std::string(161, 'a')) == 2);
  CHECK(proto::sms_parts(std::string(306, 'a')) == 2);
  CHECK(proto::sms_parts(std::string(307, 'a')) == 3);
  CHECK(proto::sms_parts(std::string(80, '{')) == 1);  // 160 septets
  CHECK(proto::sms_parts(std::string(81, '{')) == 2);
  std::string u70;
  for (int i = 0; i < 70; ++i) u70 += "ç";
  CHECK(proto::sms_parts(u70) == 1);
  CHECK(proto::sms_parts(u70 + "ç") == 2);
  std::string emoji;
  for (int i = 0; i < 35; ++i) emoji += "😀";  // 70 units: surrogate pairs
  CHECK(proto::sms_parts(emoji) == 1);
  CHECK(proto::sms_parts(emoji + "a") == 2);
}

TEST_CASE("inbound charsets convert to UTF-8, and malformed input is refused", "[sms][proto]") {
  CHECK(proto::to_utf8("caf\xC3\xA9", "UTF-8") == "café");
  CHECK(proto::to_utf8("caf\xC3\xA9", "") == "café");
  CHECK_FALSE(proto::to_utf8("caf\xE9", "UTF-8"));
  CHECK(proto::to_utf8("caf\xE9", "ISO-8859-1") == "café");
  CHECK(proto::to_utf8("\x80", "WINDOWS-1252") == "€");
  CHECK(proto::to_utf8(std::string("\x00H\x00i\xD8\x3D\xDE\x00", 8), "UTF-16BE") == "Hi😀");
  CHECK(proto::to_utf8(std::string("\x00H", 2), "ucs-2") == "H");
  CHECK_FALSE(proto::to_utf8(std::string("\x00H\x00", 3), "UTF-16BE"));       // odd length
  CHECK_FALSE(proto::to_utf8(std::string("\xD8\x3D\x00H", 4), "UTF-16BE"));   // lone high surrogate
  CHECK_FALSE(proto::to_utf8(std::string("\xDE\x00", 2), "UTF-16BE"));        // lone low surrogate
  CHECK(proto::to_utf8("caf\xC3\xA9", "8-BIT") == "café");
  CHECK(proto::to_utf8("caf\xE9", "8-BIT") == "café");
  CHECK_FALSE(proto::to_utf8("x", "EBCDIC"));
}

TEST_CASE("query strings decode, and malformed escapes are refused", "[sms][proto]") {
  auto q = proto::parse_query("from=%2B62811&text=halo+kak%21&&empty=&flag");
  REQUIRE(q);
  REQUIRE(q->size() == 4);
  CHECK((*q)[0] == std::pair<std::string, std::string>{"from", "+62811"});
  CHECK((*q)[1].second == "halo kak!");
  CHECK((*q)[2] == std::pair<std::string, std::string>{"empty", ""});
  CHECK((*q)[3] == std::pair<std::string, std::string>{"flag", ""});
  CHECK_FALSE(proto::parse_query("text=%ZZ"));
  CHECK_FALSE(proto::parse_query("text=%4"));
  CHECK_FALSE(proto::url_decode("%"));
  CHECK(proto::url_encode("+62 8é~") == "%2B62%208%C3%A9~");
  CHECK(proto::url_decode(proto::url_encode("a&b=c d+€")) == "a&b=c d+€");
}

TEST_CASE("the pool rule picks a number free for this client, sticky or not, least loaded first", "[sms][store]") {
  const std::vector<std::string> pool = {"+6281100000001", "+6281100000002", "+6281100000003"};
  std::unordered_map<std::string, std::int64_t> load;
  using store::pick_proxy_number;
  // Nothing busy: the first of the least loaded.
  CHECK(pick_proxy_number(pool, {}, std::nullopt, false, load) == pool[0]);
  load[pool[0]] = 5;
  load[pool[1]] = 2;
  CHECK(pick_proxy_number(pool, {}, std::nullopt, false, load) == pool[2]);
  load[pool[2]] = 2;
  CHECK(pick_proxy_number(pool, {}, std::nullopt, false, load) == pool[1]);
  // Busy for this client: never.
  CHECK(pick_proxy_number(pool, {pool[1]}, std::nullopt, false, load) == pool[2]);
  CHECK_FALSE(pick_proxy_number(pool, pool, std::nullopt, false, load));
  // Sticky: the last number with this talent, when free, whatever its load.
  CHECK(pick_proxy_number(pool, {}, pool[0], false, load) == pool[0]);
  CHECK(pick_proxy_number(pool, {pool[0]}, pool[0], false, load) == pool[1]);
  // Avoid sticky: another one when there is one; the sticky one rather than none.
  load.clear();
  CHECK(pick_proxy_number(pool, {}, pool[0], true, load) == pool[1]);
  CHECK(pick_proxy_number(pool, {pool[1], pool[2]}, pool[0], true, load) == pool[0]);
}

namespace {
struct StoreFixture {
  test::TempDir dir;
  crypto::Keyring keys = test::random_keyring();
  store::Store st{dir.path() / "t.db", store::Synchronous::normal, keys};
  const std::vector<std::string> pool = {"+6281100000001", "+6281100000002"};
  std::int64_t talent(const std::string& alias) {
    st.add_talent(alias, "hash", 1);
    return st.talent(alias)->id;
  }
  std::string book(std::int64_t talent_id, std::int64_t client_id, bool avoid = false) {
    auto r = test::session_record(talent_id, client_id);
    r.client_alias = "guest-" + crypto::random_alias_suffix(4);
    auto proxy = st.choose_proxy(client_id, talent_id, {&pool, avoid});
    if (!proxy) return {};
    r.proxy_number = *proxy;
    st.remember_proxy(client_id, talent_id, *proxy, 1);
    st.insert_session(r);
    last_session = r.id;
    return *proxy;
  }
  std::string last_session;
};
}  // namespace

TEST_CASE_METHOD(StoreFixture, "the store applies the pool rule across live sessions and remembers sticky numbers",
                 "[sms][store]") {
  const auto natasha = talent("natasha"), mira = talent("mira"), ayu = talent("ayu");
  const auto c1 = st.client_for_number("+6281234567890", 1);
  const auto c2 = st.client_for_number("+6285700001111", 1);
  CHECK(book(natasha, c1) == pool[0]);
  const auto c1_natasha = last_session;
  CHECK(book(mira, c1) == pool[1]);
  CHECK(book(ayu, c1).empty());        // pool exhausted for c1
  CHECK(book(natasha, c2) == pool[0]);  // shared with c1: least loaded tie, pool order
  CHECK(st.session(c1_natasha)->proxy_number == pool[0]);
  // Teardown frees the pair and clears the binding; stickiness stays.
  st.teardown(c1_natasha, "expired", 2);
  CHECK(st.session(c1_natasha)->proxy_number.empty());
  CHECK(book(natasha, c1) == pool[0]);  // sticky: same talent, same number
  st.teardown(last_session, "expired", 3);
  CHECK(book(natasha, c1, true) == pool[0]);  // avoid_sticky, but pool[1] is busy (mira): rather than none
  auto sticky_rows = [&] {
    auto& q = st.db().cached("SELECT count(*) FROM sms_sticky");
    q.step();
    const auto n = q.int64(0);
    q.reset();
    return n;
  };
  CHECK(sticky_rows() == 3);
  // Erasing the client forgets their stickiness.
  st.erase_client("+6281234567890", 4);
  CHECK(sticky_rows() == 1);
}

TEST_CASE_METHOD(StoreFixture, "notices wait in the store until sent, and go with an erased client", "[sms][store]") {
  const auto c1 = st.client_for_number("+6281234567890", 1);
  const auto id = st.add_sms_notice(c1, pool[0], "Sesi ini telah berakhir", 5);
  REQUIRE(st.sms_notices().size() == 1);
  CHECK(st.sms_notices()[0].text == "Sesi ini telah berakhir");
  st.remove_sms_notice(id);
  CHECK(st.sms_notices().empty());
  st.add_sms_notice(c1, pool[0], "again", 6);
  st.erase_client("+6281234567890", 7);
  CHECK(st.sms_notices().empty());
}

TEST_CASE_METHOD(StoreFixture, "a session's link still queued is deleted at its teardown, other notices stay",
                 "[sms][store][privacy]") {
  const auto c1 = st.client_for_number("+6281234567890", 1);
  st.add_sms_notice(c1, pool[0], "Sesi Anda sudah siap: http://x/s/#token", 2, "s_aaaaaaaaaaaaaaaaaaaaaaaaaa");
  st.add_sms_notice(c1, pool[0], "Sesi ini telah berakhir", 3);
  REQUIRE(st.sms_notices().size() == 2);
  CHECK(st.sms_notices()[0].session == "s_aaaaaaaaaaaaaaaaaaaaaaaaaa");
  st.teardown("s_aaaaaaaaaaaaaaaaaaaaaaaaaa", "expired", 4);
  const auto left = st.sms_notices();
  REQUIRE(left.size() == 1);
  CHECK(left[0].text == "Sesi ini telah berakhir");
  CHECK(left[0].session.empty());
}

TEST_CASE_METHOD(StoreFixture, "a notice queued in clear before schema 8 is still sent, beside sealed ones",
                 "[sms][store]") {
  const auto c1 = st.client_for_number("+6281234567890", 1);
  st.db()
      .cached("INSERT INTO sms_outbox(client_id, proxy_number, text, created_at) VALUES(?,?,?,?)")
      .bind(1, c1)
      .bind(2, pool[0])
      .bind(3, "queued by an older tiraid")
      .bind(4, 2)
      .run();
  st.add_sms_notice(c1, pool[0], "sealed now", 3);
  const auto notices = st.sms_notices();
  REQUIRE(notices.size() == 2);
  CHECK(notices[0].text == "queued by an older tiraid");
  CHECK(notices[1].text == "sealed now");
}
