#include "support/fake_gateway.hpp"
#include "support/relay_unit_fixture.hpp"

using namespace tirai;
using namespace tirai::relay;
using namespace tirai::test;

TEST_CASE_METHOD(Fixture, "a booked session relays chat between alias endpoints", "[session]") {
  enrol("natasha");
  const auto b = book("natasha");
  FakePeer talent, client;
  hello_talent(talent, "natasha");
  REQUIRE(talent.of_type("welcome").size() == 1);
  auto sessions = talent.of_type("welcome")[0]["sessions"].as_array();
  REQUIRE(sessions.size() == 1);
  CHECK(sessions[0].as_object()["peer"] == b.client_alias.c_str());
  CHECK(sessions[0].as_object()["state"] == "open");

  hello_client(client, b.client_token);
  auto cw = client.of_type("welcome");
  REQUIRE(cw.size() == 1);
  CHECK(cw[0]["sessions"].as_array()[0].as_object()["peer"] == "natasha");

  send(client, b.session, "c1", "halo kak");
  CHECK(client.of_type("accepted").empty());  // not before the group commits
  settle();
  REQUIRE(client.of_type("accepted").size() == 1);
  CHECK(client.of_type("accepted")[0]["seq"] == 1);
  auto msgs = talent.of_type("message");
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0]["from"] == b.client_alias.c_str());
  CHECK(msgs[0]["text"] == "halo kak");

  send(talent, b.session, "t1", "halo juga");
  settle();
  REQUIRE(client.of_type("message").size() == 1);
  CHECK(client.of_type("message")[0]["from"] == "natasha");
  CHECK(client.of_type("message")[0]["seq"] == 2);
  CHECK(st->session(b.session)->state == proto::SessionState::active);
  // No frame to the talent carries the client's number.
  for (const auto& f : talent.frames) CHECK(f.find("81234567890") == std::string::npos);
}

TEST_CASE_METHOD(Fixture, "failed hellos get byte-identical answers and a 1008 close", "[session][privacy]") {
  enrol("natasha");
  const auto b = book("natasha");
  FakePeer unknown_alias, wrong_secret, unknown_token, closed_token;
  hello_talent(unknown_alias, "nobody");
  hello_talent(wrong_secret, "natasha", "wrong secret!!");
  hello_client(unknown_token, crypto::new_token());
  mgr->bookings().end_by_operator(b.session);
  settle();
  mgr->bookings().end_by_operator(b.session);  // during closing: closes at once
  settle();
  hello_client(closed_token, b.client_token);
  for (auto* p : {&unknown_alias, &wrong_secret, &unknown_token, &closed_token}) {
    REQUIRE(p->frames.size() == 1);
    CHECK(p->frames[0] == unknown_alias.frames[0]);
    CHECK(p->closed == CloseCode::policy);
  }
  CHECK(json::parse(unknown_alias.frames[0]).as_object()["code"] == "auth_failed");
}

TEST_CASE_METHOD(Fixture, "expiry: warning, closing with grace, then teardown", "[session][timers]") {
  enrol("natasha");
  const auto b = book("natasha");
  FakePeer talent, client;
  hello_talent(talent, "natasha");
  hello_client(client, b.client_token);

  advance_to(b.expires_at - 5 * 60'000 - 1);
  CHECK(talent.of_type("session").empty());
  advance_to(b.expires_at - 5 * 60'000);
  auto notice = client.last();
  CHECK(notice["notice"] == "expiring");
  CHECK(notice["expires_in"] == 300);
  CHECK(talent.last()["notice"] == "expiring");

  advance_to(b.expires_at);
  CHECK(client.last()["state"] == "closing");
  CHECK(client.last()["reason"] == "expired");
  CHECK(client.last()["grace_seconds"] == 60);
  // Farewells still flow during grace.
  send(client, b.session, "bye", "makasih kak");
  settle();
  CHECK(talent.last()["text"] == "makasih kak");

  advance_to(b.expires_at + 60'000 - 1);
  CHECK_FALSE(client.closed);
  advance_to(b.expires_at + 60'000);
  CHECK(client.last()["state"] == "closed");
  CHECK(talent.last()["state"] == "closed");
  CHECK(client.closed == CloseCode::normal);
  const auto rec = st->session(b.session);
  CHECK(rec->state == proto::SessionState::closed);
  CHECK(rec->close_reason == "expired");
  CHECK(rec->token_hash.empty());

  // After teardown the session is as if it never existed.
  send(talent, b.session, "t9", "halo?");
  settle();
  CHECK(talent.last()["code"] == "not_in_session");
}

TEST_CASE_METHOD(Fixture, "a clock stepped forward ends no session: its end moves with the step", "[session][timers][clock]") {
  enrol("natasha");
  const auto b = book("natasha");
  FakePeer talent, client;
  hello_talent(talent, "natasha");
  hello_client(client, b.client_token);
  advance_to(t0 + 60'000);
  // NTP sets the clock an hour forward: an hour has not passed.
  clock.step(1h);
  mgr->core().tick();
  settle();
  CHECK(client.of_type("session").empty());
  CHECK(talent.of_type("session").empty());
  CHECK(metrics.clock_steps->Value() == 1);
  CHECK(st->session(b.session)->expires_at == b.expires_at + 3'600'000);
  send(client, b.session, "c1", "masih di sini kak");
  settle();
  CHECK(talent.last()["text"] == "masih di sini kak");
  // The session keeps the 29 minutes it had left: the warning and the end
  // come that long after the step, by the clock as it now reads.
  advance_to(b.expires_at + 3'600'000 - 5 * 60'000 - 1);
  CHECK(client.of_type("session").empty());
  advance_to(b.expires_at + 3'600'000 - 5 * 60'000);
  CHECK(client.last()["notice"] == "expiring");
  CHECK(client.last()["expires_in"] == 300);
  advance_to(b.expires_at + 3'600'000);
  CHECK(client.last()["state"] == "closing");
  CHECK(client.last()["reason"] == "expired");
  // A step within grace moves the end of grace too.
  clock.step(10min);
  mgr->core().tick();
  settle();
  CHECK(client.last()["state"] == "closing");
  advance_to(clock.now() + 60'000 - 1);
  CHECK_FALSE(client.closed);
  advance_to(clock.now() + 1);
  CHECK(client.last()["state"] == "closed");
  CHECK(metrics.clock_steps->Value() == 2);
}

TEST_CASE_METHOD(Fixture, "a clock stepped back stretches no session and silences no sender", "[session][timers][clock][limits]") {
  config.policy.messages_per_minute = 3;
  mgr = make_manager();
  enrol("natasha");
  const auto b = book("natasha");
  FakePeer talent, client;
  hello_talent(talent, "natasha");
  hello_client(client, b.client_token);
  mgr->core().tick();
  send(client, b.session, "c1", "halo");
  settle();
  clock.step(-1h);
  mgr->core().tick();
  settle();
  CHECK(st->session(b.session)->expires_at == b.expires_at - 3'600'000);
  // The rate limit's bucket refills nothing for the step, and takes nothing
  // back: the two messages left this minute still go.
  send(client, b.session, "c2", "masih");
  send(client, b.session, "c3", "di sini");
  settle();
  CHECK(client.of_type("accepted").size() == 3);
  CHECK(client.of_type("error").empty());
  // The session ends when its 30 minutes are up, not an hour later.
  advance_to(b.expires_at - 3'600'000 - 1);
  CHECK(client.of_type("session").size() == 1);  // the expiring notice only
  advance_to(b.expires_at - 3'600'000);
  CHECK(client.last()["state"] == "closing");
}

TEST_CASE_METHOD(Fixture, "a clock step logs nobody out: resume tickets move with it", "[session][clock][connections]") {
  enrol("natasha");
  FakePeer talent;
  hello_talent(talent, "natasha");
  REQUIRE(talent.of_type("welcome").size() == 1);
  const std::string ticket(talent.of_type("welcome")[0]["resume"].as_string());
  mgr->core().tick();
  // Thirteen hours forward: past the ticket's 12 h, but a minute passed.
  clock.step(13h);
  advance_to(clock.now() + 60'000);
  CHECK(metrics.clock_steps->Value() == 1);
  // Kept moved in the store too, for a restart.
  const auto stored = st->tickets(clock.now());
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].expires_at > clock.now() + 11 * 3'600'000);
  FakePeer reloaded;
  mgr->attach(reloaded);
  frame(reloaded, fmt::format(R"({{"type":"hello","role":"talent","resume":"{}"}})", ticket));
  settle();
  CHECK(reloaded.of_type("welcome").size() == 1);
}

TEST_CASE_METHOD(Fixture, "time passing is no step, however late the tick", "[session][timers][clock]") {
  enrol("natasha");
  const auto b = book("natasha");
  mgr->core().tick();
  // The relay thread was busy for 20 s: both clocks moved 20 s.
  advance_to(clock.now() + 20'000);
  CHECK(metrics.clock_steps->Value() == 0);
  // Less than a second of difference (NTP slewing) is not a step either.
  clock.step(999ms);
  mgr->core().tick();
  CHECK(metrics.clock_steps->Value() == 0);
  CHECK(st->session(b.session)->expires_at == b.expires_at);
}

TEST_CASE_METHOD(Fixture, "minimal records are purged after retention", "[session][timers][privacy]") {
  config.sessions.retention = 24h;
  mgr = make_manager();
  enrol("natasha");
  const auto b = book("natasha");
  mgr->bookings().end_by_operator(b.session);
  mgr->bookings().end_by_operator(b.session);
  settle();
  REQUIRE(st->session(b.session));
  advance_to(t0 + 24 * 3'600'000 - 1);
  REQUIRE(st->session(b.session));
  advance_to(t0 + 24 * 3'600'000 + 10 * 60'000 + 1);  // retention, plus at most one sweep interval
  CHECK_FALSE(st->session(b.session));
}

TEST_CASE_METHOD(Fixture, "grace of zero closes at once", "[session][timers]") {
  config.sessions.grace = 0s;
  mgr = make_manager();
  enrol("natasha");
  const auto b = book("natasha");
  FakePeer client;
  hello_client(client, b.client_token);
  frame(client, R"({"type":"end","session":")" + b.session + "\"}");
  settle();
  CHECK(client.last()["state"] == "closed");
  CHECK(client.last()["reason"] == "ended_by_client");
  CHECK(client.closed == CloseCode::normal);
}

TEST_CASE_METHOD(Fixture, "reconnect replays every unacknowledged message in order, once", "[session]") {
  enrol("natasha");
  const auto b = book("natasha");
  FakePeer client;
  hello_client(client, b.client_token);
  for (int i = 1; i <= 3; ++i) send(client, b.session, fmt::format("c{}", i), fmt::format("m{}", i));
  settle();

  FakePeer talent;
  mgr->attach(talent);
  frame(talent, R"({"type":"hello","role":"talent","alias":"natasha","secret":"correct horse battery"})");
  worker.run_one();                         // the secret is verified; the replay read is queued
  send(client, b.session, "c4", "m4");      // committed in the same group as the replay read
  store.run_group();
  send(client, b.session, "c5", "m5");      // committed after it: must come live, after the replay
  settle();
  auto msgs = talent.of_type("message");
  REQUIRE(msgs.size() == 5);
  for (int i = 0; i < 5; ++i) CHECK(msgs[static_cast<std::size_t>(i)]["seq"] == i + 1);

  // Acknowledged messages are not replayed again.
  frame(talent, R"({"type":"ack","session":")" + b.session + R"(","seq":4})");
  settle();
  mgr->detach(talent);
  FakePeer again;
  hello_talent(again, "natasha");
  auto replayed = again.of_type("message");
  REQUIRE(replayed.size() == 1);
  CHECK(replayed[0]["seq"] == 5);
}

TEST_CASE_METHOD(Fixture, "a retried send id gets the same accepted and no second delivery", "[session]") {
  enrol("natasha");
  const auto b = book("natasha");
  FakePeer talent, client;
  hello_talent(talent, "natasha");
  hello_client(client, b.client_token);
  send(client, b.session, "same", "halo");
  settle();
  send(client, b.session, "same", "halo");
  settle();
  auto acc = client.of_type("accepted");
  REQUIRE(acc.size() == 2);
  CHECK(acc[0] == acc[1]);
  CHECK(talent.of_type("message").size() == 1);
}

TEST_CASE_METHOD(Fixture, "nobody writes outside their own live sessions", "[session]") {
  enrol("natasha");
  enrol("bella");
  const auto b = book("natasha");
  const auto other = book("bella", "+6281111111111");
  FakePeer bella, client;
  hello_talent(bella, "bella");
  hello_client(client, b.client_token);
  send(bella, b.session, "x", "hi");
  CHECK(bella.last()["code"] == "not_in_session");
  send(client, other.session, "x", "hi");
  CHECK(client.last()["code"] == "not_in_session");
  FakePeer stranger;
  mgr->attach(stranger);
  send(stranger, b.session, "x", "hi");
  CHECK(stranger.last()["code"] == "not_allowed");
  settle();
  CHECK(st->session(b.session)->message_count == 0);
}

TEST_CASE_METHOD(Fixture, "the quota's last message is accepted, the next refused, then the session closes",
                 "[session]") {
  enrol("natasha");
  const auto b = book("natasha", "+6281234567890", "chat-3");
  FakePeer client;
  hello_client(client, b.client_token);
  for (int i = 1; i <= 4; ++i) send(client, b.session, fmt::format("c{}", i), "x");
  settle();
  CHECK(client.of_type("accepted").size() == 3);
  auto errors = client.of_type("error");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0]["code"] == "quota_exhausted");
  CHECK(errors[0]["id"] == "c4");
  auto s = client.of_type("session");
  REQUIRE(s.size() == 1);
  CHECK(s[0]["reason"] == "quota_exhausted");
}

TEST_CASE_METHOD(Fixture, "on restart, sessions whose time ran out are torn down", "[session][timers]") {
  enrol("natasha");
  const auto expired = book("natasha", "+6281234567890");
  clock.advance(20min);
  const auto live = book("natasha", "+6281234567891");
  clock.advance(15min);  // the first is past its end, the second is not
  mgr = make_manager();
  mgr->load(st->talents(), st->live_sessions());
  settle();
  CHECK(st->session(expired.session)->state == proto::SessionState::closed);
  CHECK(st->session(live.session)->state == proto::SessionState::open);
  CHECK(mgr->core().live_sessions() == 1);
  FakePeer c1, c2;
  hello_client(c1, expired.client_token);
  CHECK(c1.last()["code"] == "auth_failed");
  hello_client(c2, live.client_token);
  CHECK(c2.of_type("welcome").size() == 1);
}

TEST_CASE_METHOD(Fixture, "removing a talent ends their sessions and their login", "[session]") {
  enrol("natasha");
  const auto b = book("natasha");
  FakePeer talent, client;
  hello_talent(talent, "natasha");
  hello_client(client, b.client_token);
  std::optional<BookingError> err{BookingError{}};
  mgr->bookings().remove_talent("natasha", [&](std::optional<BookingError> e) { err = e; });
  settle();
  CHECK_FALSE(err);
  CHECK(client.last()["reason"] == "talent_removed");
  CHECK(client.closed == CloseCode::normal);
  CHECK(talent.closed == CloseCode::policy);
  CHECK(st->talents().empty());
  CHECK_FALSE(st->session(b.session));
  FakePeer again;
  hello_talent(again, "natasha");
  CHECK(again.last()["code"] == "auth_failed");
}

TEST_CASE_METHOD(Fixture, "admin validation answers with codes", "[session][admin]") {
  enrol("natasha");
  std::optional<BookingError> err;
  mgr->bookings().add_talent("natasha", "another long secret", [&](auto e) { err = e; });
  settle();
  CHECK(err->code() == "alias_taken");
  mgr->bookings().add_talent("Bad Alias", "another long secret", [&](auto e) { err = e; });
  CHECK(err->code() == "invalid_alias");
  mgr->bookings().add_talent("bella", "short", [&](auto e) { err = e; });
  CHECK(err->code() == "weak_secret");
  std::optional<BookResult> r;
  mgr->bookings().book({"natasha", "0812345678", "chat-30m", std::nullopt}, [&](auto v) { r = v; });
  CHECK(std::get<BookingError>(*r).code() == "invalid_number");
  mgr->bookings().book({"nobody", "+6281234567890", "chat-30m", std::nullopt}, [&](auto v) { r = v; });
  CHECK(std::get<BookingError>(*r).code() == "unknown_talent");
  mgr->bookings().book({"natasha", "+6281234567890", "gold", std::nullopt}, [&](auto v) { r = v; });
  CHECK(std::get<BookingError>(*r).code() == "unknown_package");
  CHECK(mgr->bookings().end_by_operator("s_nope")->code() == "unknown_session");
}

// ---- packages and policies (issue: what a booking allows, and what keeps talents safe) ----

namespace {
std::optional<BookingError> book_error(Fixture& f, const std::string& talent, const std::string& number,
                                     const std::string& package = "chat-30m") {
  std::optional<BookResult> result;
  f.mgr->bookings().book({talent, number, package, std::nullopt}, [&](BookResult r) { result = std::move(r); });
  f.settle();
  REQUIRE(result);
  if (auto* e = std::get_if<BookingError>(&*result)) return *e;
  return std::nullopt;
}

void end_now(Fixture& f, const std::string& session) {
  f.mgr->bookings().end_by_operator(session);
  f.mgr->bookings().end_by_operator(session);
  f.settle();
}
}  // namespace

TEST_CASE_METHOD(Fixture, "KYC window: unverified clients are refused inside it, accepted outside", "[policy][kyc]") {
  config.policy.kyc_required_hours = parse_daily_window("22:00-06:00");
  config.policy.timezone = "Asia/Jakarta";  // UTC+7, no DST
  mgr = make_manager();
  enrol("natasha");
  clock.set(1'790'006'400'000);  // 16:00 UTC = 23:00 in Jakarta: inside
  auto err = book_error(*this, "natasha", "+6281234567890");
  REQUIRE(err);
  CHECK(err->errc == BookingErrc::kyc_required);  // 409 over HTTP: e2e_policy_test
  CHECK(err->code() == "kyc_required");
  CHECK_FALSE(st->find_client("+6281234567890"));  // a refused booking leaves nothing behind

  std::optional<StandingError> verified{StandingError{}};
  mgr->ratings().verify_client("+6281234567890", "ktp_selfie", [&](auto e) { verified = e; });
  settle();
  CHECK_FALSE(verified);
  CHECK_FALSE(book_error(*this, "natasha", "+6281234567890"));

  clock.set(1'790'053'200'000);  // 05:00 UTC = 12:00 in Jakarta: outside
  CHECK_FALSE(book_error(*this, "natasha", "+6281111111111"));

  // A package can demand verification at all hours.
  config.packages["night-vip"] = {"night-vip", {"chat"}, 30min, std::nullopt, true, 0ms};
  mgr->set_packages(config.packages);
  CHECK(book_error(*this, "natasha", "+6282222222222", "night-vip")->code() == "kyc_required");
}

TEST_CASE_METHOD(Fixture, "ratings: while closing or within the window, once, never by the client", "[policy][ratings]") {
  config.policy.rating_window = 1h;
  mgr = make_manager();
  enrol("natasha");
  const auto b = book("natasha");
  FakePeer talent, client;
  hello_talent(talent, "natasha");
  hello_client(client, b.client_token);
  auto rate = [&](FakePeer& p, const std::string& s, int score) {
    frame(p, fmt::format(R"({{"type":"rate","session":"{}","score":{}}})", s, score));
    settle();
    return p.last();
  };
  CHECK(rate(talent, b.session, 4)["message"] == "a client is rated once the session is ending");
  CHECK(rate(client, b.session, 1)["code"] == "not_allowed");
  mgr->bookings().end_by_operator(b.session);
  settle();
  CHECK(rate(talent, b.session, 4)["type"] == "rated");
  CHECK(rate(talent, b.session, 5)["message"] == "this session is already rated");

  const auto b2 = book("natasha", "+6281111111111");
  end_now(*this, b2.session);
  advance_to(clock.now() + 60 * 60'000);  // exactly at the end of the window: still allowed
  CHECK(rate(talent, b2.session, 3)["type"] == "rated");
  const auto b3 = book("natasha", "+6282222222222");
  end_now(*this, b3.session);
  advance_to(clock.now() + 60 * 60'000 + 1);
  CHECK(rate(talent, b3.session, 3)["message"] == "the rating window has passed");
  CHECK(rate(talent, "s_unknownunknownunknownunkn", 3)["code"] == "not_in_session");
}

TEST_CASE_METHOD(Fixture, "the next talent sees the client's standing, never who rated", "[policy][ratings]") {
  enrol("natasha");
  enrol("bella");
  FakePeer natasha, bella;
  hello_talent(natasha, "natasha");
  hello_talent(bella, "bella");
  const auto b = book("natasha");
  auto first = natasha.of_type("session").back();
  CHECK(first["client"].as_object()["rating"].as_object()["count"] == 0);
  CHECK(first["client"].as_object()["rating"].as_object()["average"].is_null());
  end_now(*this, b.session);
  frame(natasha, fmt::format(R"({{"type":"rate","session":"{}","score":2}})", b.session));
  settle();
  book("bella");
  auto seen = bella.of_type("session").back();
  auto standing = seen["client"].as_object();
  CHECK(standing["verified"] == false);
  CHECK(standing["rating"].as_object()["count"] == 1);
  CHECK(standing["rating"].as_object()["average"].to_number<double>() == Approx(2.0));
  CHECK(json::serialize(seen).find("natasha") == std::string::npos);
}

TEST_CASE_METHOD(Fixture, "ratings count for policy.rating_retention, then they are deleted", "[policy][ratings][privacy]") {
  config.policy.rating_retention = std::chrono::hours(24 * 90);
  mgr = make_manager();
  enrol("natasha");
  FakePeer natasha;
  hello_talent(natasha, "natasha");
  const auto b = book("natasha");
  end_now(*this, b.session);
  frame(natasha, fmt::format(R"({{"type":"rate","session":"{}","score":2}})", b.session));
  settle();
  const UnixMs rated = clock.now();
  const auto count = [&] {
    std::optional<StandingResult> r;
    mgr->ratings().lookup_client("+6281234567890", [&](StandingResult v) { r = std::move(v); });
    settle();
    return std::get<store::ClientStanding>(*r).ratings;
  };
  advance_to(rated + 89LL * 24 * 3600 * 1000);
  CHECK(count() == 1);
  advance_to(rated + 90LL * 24 * 3600 * 1000 + 1);
  CHECK(count() == 0);
  auto& rows = st->db().cached("SELECT count(*) FROM ratings");
  REQUIRE(rows.step());
  CHECK(rows.int64(0) == 0);
  rows.reset();
}

TEST_CASE_METHOD(Fixture, "automatic restriction after enough bad ratings, and release by the operator",
                 "[policy][ratings]") {
  config.policy.restrict_below_rating = 2.5;
  config.policy.restrict_min_ratings = 2;
  mgr = make_manager();
  enrol("natasha");
  FakePeer talent;
  hello_talent(talent, "natasha");
  for (int i = 0; i < 2; ++i) {
    const auto b = book("natasha");
    end_now(*this, b.session);
    frame(talent, fmt::format(R"({{"type":"rate","session":"{}","score":1}})", b.session));
    settle();
    CHECK(talent.last()["type"] == "rated");
  }
  auto err = book_error(*this, "natasha", "+6281234567890");
  REQUIRE(err);
  CHECK(err->code() == "client_restricted");
  std::optional<StandingResult> looked;
  mgr->ratings().lookup_client("+6281234567890", [&](auto r) { looked = r; });
  settle();
  CHECK(std::get<store::ClientStanding>(*looked).restricted);
  CHECK(std::get<store::ClientStanding>(*looked).ratings == 2);

  std::optional<StandingError> released{StandingError{}};
  mgr->ratings().restrict_client("+6281234567890", false, [&](auto e) { released = e; });
  settle();
  CHECK_FALSE(released);
  CHECK_FALSE(book_error(*this, "natasha", "+6281234567890"));
  mgr->ratings().restrict_client("+6281111111111", true, [&](auto) {});
  settle();
  CHECK(book_error(*this, "natasha", "+6281111111111")->code() == "client_restricted");
}

TEST_CASE_METHOD(Fixture, "per-pair client alias: stable for one talent, different for another", "[policy]") {
  config.sessions.client_alias = ClientAliasMode::per_pair;
  mgr = make_manager();
  enrol("natasha");
  enrol("bella");
  const auto a1 = book("natasha");
  end_now(*this, a1.session);
  const auto a2 = book("natasha");
  CHECK(a2.client_alias == a1.client_alias);
  const auto a3 = book("natasha");  // the same pair, concurrently: still unique
  CHECK(a3.client_alias != a2.client_alias);
  CHECK(a3.client_alias.rfind(a2.client_alias, 0) == 0);
  const auto other = book("bella");
  CHECK(other.client_alias != a1.client_alias);
  const auto someone_else = book("natasha", "+6281111111111");
  CHECK(someone_else.client_alias != a1.client_alias);
}

TEST_CASE_METHOD(Fixture, "message rate limit per sender per session, and nothing is lost", "[policy][limits]") {
  config.policy.messages_per_minute = 3;
  mgr = make_manager();
  enrol("natasha");
  const auto b = book("natasha");
  FakePeer client, talent;
  hello_client(client, b.client_token);
  hello_talent(talent, "natasha");
  for (int i = 1; i <= 4; ++i) send(client, b.session, fmt::format("c{}", i), "x");
  settle();
  CHECK(client.of_type("accepted").size() == 3);
  auto err = client.of_type("error");
  REQUIRE(err.size() == 1);
  CHECK(err[0]["code"] == "rate_limited");
  CHECK(err[0]["id"] == "c4");
  send(talent, b.session, "t1", "the other side has its own bucket");
  settle();
  CHECK(talent.of_type("accepted").size() == 1);
  advance_to(clock.now() + 20'000);  // a third of a minute refills one message
  send(client, b.session, "c4", "x");
  settle();
  CHECK(client.of_type("accepted").size() == 4);
  CHECK(talent.of_type("message").size() == 4);
}

TEST_CASE_METHOD(Fixture, "login limits count failures: per address, the same for unknown aliases",
                 "[policy][limits]") {
  config.policy.login_attempts_per_minute = 2;
  mgr = make_manager();
  enrol("natasha");
  const auto codes = [&](const std::string& address, const std::string& alias, int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
      FakePeer p;
      p.address = address;
      hello_talent(p, alias, "wrong secret here");
      out.push_back(std::string(json::parse(p.frames.at(0)).as_object()["code"].as_string()));
    }
    return out;
  };
  CHECK(codes("10.0.0.1", "natasha", 3) == std::vector<std::string>{"auth_failed", "auth_failed", "rate_limited"});
  // An unknown alias is limited the same way, with the same bytes.
  CHECK(codes("10.0.0.2", "nobody-at-all", 3) == std::vector<std::string>{"auth_failed", "auth_failed", "rate_limited"});
  // Over its failures, an address is refused before any hashing.
  FakePeer more;
  more.address = "10.0.0.1";
  mgr->attach(more);
  frame(more, R"({"type":"hello","role":"talent","alias":"natasha","secret":"correct horse battery"})");
  CHECK(worker.size() == 0);
  CHECK(more.last()["code"] == "rate_limited");
  advance_to(clock.now() + 60'000);
  FakePeer later;
  later.address = "10.0.0.1";
  hello_talent(later, "natasha");
  CHECK(later.of_type("welcome").size() == 1);
}

TEST_CASE_METHOD(Fixture, "other people's failures never refuse a right secret or token", "[policy][limits]") {
  enrol("natasha");
  const auto b = book("natasha");
  // Ten wrong secrets for her alias from one address, ten junk tokens from another.
  for (int i = 0; i < 10; ++i) {
    FakePeer p, c;
    p.address = "10.0.0.1";
    c.address = "10.0.0.2";
    hello_talent(p, "natasha", "wrong secret here");
    hello_client(c, crypto::new_token());
    CHECK(p.last()["code"] == "auth_failed");
    CHECK(c.last()["code"] == "auth_failed");
  }
  FakePeer talent, client;
  talent.address = "10.0.0.3";
  client.address = "10.0.0.2";  // the same address as the junk tokens (a proxy, a carrier's NAT)
  hello_talent(talent, "natasha");
  hello_client(client, b.client_token);
  CHECK(talent.of_type("welcome").size() == 1);
  CHECK(client.of_type("welcome").size() == 1);
}

TEST_CASE_METHOD(Fixture, "an alias over its failures: wrong secrets wait for their answer, the right one does not",
                 "[policy][limits]") {
  enrol("natasha");
  for (int i = 0; i < 10; ++i) {
    FakePeer p;
    p.address = "10.0.1." + std::to_string(i);
    hello_talent(p, "natasha", "wrong secret here");
    REQUIRE(p.last()["code"] == "auth_failed");
  }
  FakePeer slow;
  slow.address = "10.0.2.1";
  hello_talent(slow, "natasha", "wrong secret here");
  CHECK(slow.frames.empty());  // hashed, but the answer waits
  FakePeer again;
  again.address = "10.0.2.1";  // the address's slot is still taken
  hello_talent(again, "natasha", "wrong secret here");
  CHECK(again.last()["code"] == "rate_limited");
  FakePeer right;
  right.address = "10.0.2.2";
  hello_talent(right, "natasha");
  CHECK(right.of_type("welcome").size() == 1);
  const UnixMs failed_at = clock.now();
  advance_to(failed_at + 5'999);  // one failure over ten a minute: six seconds
  CHECK(slow.frames.empty());
  advance_to(failed_at + 6'000);
  REQUIRE(slow.frames.size() == 1);
  CHECK(slow.last()["code"] == "auth_failed");
  CHECK(slow.closed == CloseCode::policy);
}

TEST_CASE_METHOD(Fixture, "hashing: one pending per address, a bounded queue, and the talent still gets in",
                 "[policy][limits]") {
  enrol("natasha");
  std::vector<std::unique_ptr<FakePeer>> peers;
  for (int a = 0; a < 14; ++a)
    for (int i = 0; i < 10; ++i) {
      auto& p = *peers.emplace_back(std::make_unique<FakePeer>());
      p.address = "10.1.0." + std::to_string(a);
      mgr->attach(p);
      frame(p, R"({"type":"hello","role":"talent","alias":"natasha","secret":"wrong secret here"})");
      if (i > 0) CHECK(p.last()["code"] == "rate_limited");
    }
  CHECK(worker.size() == 14);
  for (int a = 0; a < 100; ++a) {
    auto& p = *peers.emplace_back(std::make_unique<FakePeer>());
    p.address = "10.2.0." + std::to_string(a);
    mgr->attach(p);
    frame(p, R"({"type":"hello","role":"talent","alias":"natasha","secret":"wrong secret here"})");
  }
  CHECK(worker.size() == 64);  // the queue's bound; the rest were refused at once
  settle();
  FakePeer talent;
  talent.address = "10.3.0.1";
  hello_talent(talent, "natasha");
  CHECK(talent.of_type("welcome").size() == 1);
}

TEST_CASE_METHOD(Fixture, "hellos with aliases that cannot exist leave no state and cost no hash", "[policy][limits]") {
  const std::string huge(16 * 1024, 'x');
  for (int i = 0; i < 4000; ++i) {
    FakePeer p;
    p.address = "10.0.0.1";
    mgr->attach(p);
    frame(p, fmt::format(R"({{"type":"hello","role":"talent","alias":"{}{}","secret":"wrong secret here"}})", huge, i));
    CHECK(worker.size() == 0);
    mgr->detach(p);
  }
  CHECK(mgr->connections().login_entries() == 1);  // the one address
  // Valid aliases from an address over its failures: refused before any state.
  for (int i = 0; i < 4000; ++i) {
    FakePeer p;
    p.address = "10.0.0.1";
    hello_talent(p, fmt::format("alias-{}", i), "wrong secret here");
    mgr->detach(p);
  }
  CHECK(mgr->connections().login_entries() == 1);
  advance_to(clock.now() + 60'000);
  CHECK(mgr->connections().login_entries() == 0);  // refilled entries are dropped
}

TEST_CASE_METHOD(Fixture, "contact guard: redact, split numbers, and block", "[policy][contact]") {
  enrol("natasha");
  const auto b = book("natasha");
  FakePeer client, talent;
  hello_client(client, b.client_token);
  hello_talent(talent, "natasha");
  send(client, b.session, "c1", "WA aku 081234567890 ya");
  settle();
  auto m = talent.of_type("message").back();
  CHECK(m["text"] == "[hidden] ya");
  CHECK(m["redacted"] == true);
  CHECK(client.of_type("accepted").back()["redacted"] == true);
  send(client, b.session, "c2", "nomorku 0812 3456");
  send(client, b.session, "c3", "7890 ya");
  settle();
  auto msgs = talent.of_type("message");
  CHECK(msgs[1]["text"] == "nomorku 0812 3456");
  CHECK(msgs[2]["text"] == "[hidden] ya");
  // Nothing of the number was stored.
  for (const auto& p : st->pending(b.session, proto::Role::talent)) CHECK(p.text.find("34567890") == std::string::npos);

  config.policy.contact_guard = ContactGuard::block;
  mgr->set_policy(config.policy);
  send(client, b.session, "c4", "ig: natasha_cute99");
  settle();
  CHECK(client.last()["code"] == "contact_details_blocked");
  CHECK(client.last()["id"] == "c4");
  CHECK(talent.of_type("message").size() == 3);
}

TEST_CASE_METHOD(Fixture, "quota notice at 90%, package idle timeout, and call signalling by package",
                 "[policy][packages]") {
  config.packages["chat-10"] = {"chat-10", {"chat"}, 30min, 10, false, 0ms};
  config.packages["idle"] = {"idle", {"chat"}, 30min, std::nullopt, false, 5min};
  config.packages["voice"] = {"voice", {"chat", "voice"}, 30min, std::nullopt, false, 0ms};
  mgr = make_manager();
  enrol("natasha");
  const auto q = book("natasha", "+6281234567890", "chat-10");
  FakePeer client;
  hello_client(client, q.client_token);
  for (int i = 1; i <= 9; ++i) send(client, q.session, fmt::format("c{}", i), "x");
  settle();
  auto notice = client.of_type("session");
  REQUIRE(notice.size() == 1);
  CHECK(notice[0]["notice"] == "quota");
  CHECK(notice[0]["remaining"] == 1);

  const auto idle = book("natasha", "+6281111111111", "idle");
  FakePeer idle_client;
  hello_client(idle_client, idle.client_token);
  advance_to(clock.now() + 4 * 60'000);
  send(idle_client, idle.session, "i1", "masih di sini");  // activity pushes the idle end back
  settle();
  advance_to(clock.now() + 4 * 60'000);
  CHECK(idle_client.of_type("session").empty());
  advance_to(clock.now() + 60'000);
  CHECK(idle_client.last()["state"] == "closing");
  CHECK(idle_client.last()["reason"] == "expired");

  frame(client, fmt::format(R"({{"type":"call","session":"{}","action":"start","id":"r1"}})", q.session));
  CHECK(client.last()["code"] == "not_allowed");
  CHECK(client.last()["message"] == "this session's package has no calls");
  CHECK(client.last()["id"] == "r1");
  const auto v = book("natasha", "+6282222222222", "voice");
  FakePeer voice_client;
  hello_client(voice_client, v.client_token);
  frame(voice_client, fmt::format(R"({{"type":"call","session":"{}","action":"start"}})", v.session));
  CHECK(voice_client.last()["message"] == "voice calls are not enabled on this relay");
}

// ---- SMS (issue: proxy numbers through Kannel), with a fake gateway ----

namespace {

const std::string P1 = "+6281100000001", P2 = "+6281100000002", C1 = "+6281234567890";

struct SmsFixture : Fixture {
  SmsFixture() {
    config.sms.enabled = true;
    config.sms.proxy_numbers = {P1, P2};
    config.policy.messages_per_minute = 0;
    mgr->enable_sms(gateway, numbers);
  }
  // The manager holds numbers in the arena: it goes first.
  ~SmsFixture() { mgr.reset(); }
  // The gateway's answer's code, or "pending" when it is not given yet (the test settles later).
  std::string sms(const std::string& from, const std::string& to, const std::string& text, bool settled = true) {
    answer.reset();
    mgr->on_sms(InboundSms{from, to, text, {}}, [this](InboundResult v) { answer = std::move(v); });
    if (settled) settle();
    return answer ? std::string(answer->code()) : "pending";
  }
  std::optional<InboundResult> answer;
  crypto::KeyArena numbers;
  FakeGateway gateway;
};

}  // namespace

TEST_CASE_METHOD(SmsFixture, "an SMS is answered only after it is stored, and the talent's accepted waits for the gateway",
                 "[session][sms]") {
  enrol("natasha");
  const auto b = book("natasha", C1);
  CHECK(b.proxy_number == P1);
  FakePeer talent;
  hello_talent(talent, "natasha");
  CHECK(sms(C1, P1, "halo kak", false) == "pending");  // not before the commit
  settle();
  CHECK(answer->code() == "stored");
  REQUIRE(talent.of_type("message").size() == 1);
  CHECK(talent.of_type("message")[0]["from"] == b.client_alias.c_str());
  CHECK(talent.of_type("message")[0]["text"] == "halo kak");

  send(talent, b.session, "t1", "halo juga");
  settle();
  CHECK(talent.of_type("accepted").empty());
  REQUIRE(gateway.waiting.size() == 1);
  CHECK(gateway.waiting[0].from == P1);
  CHECK(gateway.waiting[0].to->view() == C1);
  CHECK(gateway.waiting[0].text == "halo juga");
  gateway.accept_all();
  settle();
  REQUIRE(talent.of_type("accepted").size() == 1);
  CHECK(talent.of_type("accepted")[0]["id"] == "t1");
  CHECK(st->pending(b.session, proto::Role::client).empty());  // handed over: the body is gone
  // A retried send id is accepted at once with its first seq and sent no second time.
  send(talent, b.session, "t1", "halo juga");
  settle();
  CHECK(talent.of_type("accepted").size() == 2);
  CHECK(gateway.waiting.empty());
}

TEST_CASE_METHOD(SmsFixture, "out of session: never delivered, one reply per sender and number per hour",
                 "[session][sms]") {
  enrol("natasha");
  FakePeer talent;
  hello_talent(talent, "natasha");
  CHECK(sms(C1, P1, "halo?") == "out_of_session");
  CHECK(sms(C1, P1, "halo??") == "out_of_session");
  CHECK(sms(C1, P2, "halo???") == "out_of_session");  // another pair
  gateway.accept_all();
  REQUIRE(gateway.sent.size() == 2);
  CHECK(gateway.sent[0].from == P1);
  CHECK(gateway.sent[0].to == C1);
  CHECK(gateway.sent[0].text == config.sms.out_of_session_reply);
  CHECK(gateway.sent[1].from == P2);
  advance_to(t0 + 59 * 60 * 1000);
  sms(C1, P1, "masih?");
  gateway.accept_all();
  CHECK(gateway.sent.size() == 2);
  advance_to(t0 + 61 * 60 * 1000);
  sms(C1, P1, "masih??");
  gateway.accept_all();
  CHECK(gateway.sent.size() == 3);
  CHECK(talent.of_type("message").empty());
  CHECK(metrics.sms_out_of_session->Value() == 5);
  CHECK(metrics.sms_out_of_session_replies->Value() == 3);
}

TEST_CASE_METHOD(SmsFixture, "teardown drops what waits for the session, the ended notice still goes", "[session][sms]") {
  config.sessions.grace = 0s;
  enrol("natasha");
  const auto b = book("natasha", C1);
  FakePeer talent;
  hello_talent(talent, "natasha");
  send(talent, b.session, "t1", "satu");
  send(talent, b.session, "t2", "dua");
  settle();
  CHECK(gateway.waiting.size() == 2);
  REQUIRE_FALSE(mgr->bookings().end_by_operator(b.session));
  settle();
  CHECK(gateway.dropped == std::vector<std::string>{b.session});
  REQUIRE(gateway.waiting.size() == 1);
  CHECK(gateway.waiting[0].text == config.sms.ended_notice);
  CHECK(st->sms_notices().size() == 1);  // kept until the gateway takes it
  gateway.accept_all();
  settle();
  CHECK(st->sms_notices().empty());
  CHECK(talent.of_type("accepted").empty());
  // The pair is free again; an SMS on it now is out of session.
  CHECK(sms(C1, P1, "halo?") == "out_of_session");
}

TEST_CASE_METHOD(SmsFixture, "a stop word ends the session, the expiry notice carries the minutes", "[session][sms]") {
  config.sms.expiry_notice = "ends in {minutes} min";
  enrol("natasha");
  const auto b = book("natasha", C1);
  FakePeer talent;
  hello_talent(talent, "natasha");
  advance_to(t0 + 25 * 60 * 1000);  // warn_before is 5 minutes
  gateway.accept_all();
  settle();
  REQUIRE(gateway.sent.size() == 1);
  CHECK(gateway.sent[0].text == "ends in 5 min");
  CHECK(sms(C1, P1, "Stop", false) == "pending");
  settle();
  auto closing = talent.of_type("session");
  REQUIRE_FALSE(closing.empty());
  CHECK(closing.back()["state"] == "closing");
  CHECK(closing.back()["reason"] == "ended_by_client");
  CHECK(sms(C1, P1, "stop please") == "stored");  // not just a stop word: a farewell in the grace
}

TEST_CASE_METHOD(SmsFixture, "a client on the web socket gets messages there, not by SMS, and --no-sms bookings have no number",
                 "[session][sms]") {
  enrol("natasha");
  const auto b = book("natasha", C1);
  FakePeer talent, client;
  hello_talent(talent, "natasha");
  hello_client(client, b.client_token);
  send(talent, b.session, "t1", "lewat web");
  settle();
  CHECK(gateway.waiting.empty());
  CHECK(client.of_type("message").size() == 1);
  CHECK(talent.of_type("accepted").size() == 1);
  std::optional<BookResult> r;
  mgr->bookings().book({"natasha", C1, "chat-30m", false}, [&](BookResult v) { r = std::move(v); });
  settle();
  REQUIRE(std::holds_alternative<Booking>(*r));
  CHECK(std::get<Booking>(*r).proxy_number.empty());
  mgr->bookings().book({"natasha", C1, "chat-30m", true}, [&](BookResult v) { r = std::move(v); });
  settle();
  CHECK(std::get<Booking>(*r).proxy_number == P2);
  mgr->bookings().book({"natasha", C1, "chat-30m", true}, [&](BookResult v) { r = std::move(v); });
  settle();
  REQUIRE(std::holds_alternative<BookingError>(*r));
  CHECK(std::get<BookingError>(*r).code() == "pool_exhausted");
  CHECK(std::get<BookingError>(*r).errc == BookingErrc::pool_exhausted);  // 409 over HTTP: e2e_sms_test
}

TEST_CASE_METHOD(SmsFixture, "erasing a client drops the notices queued for them, however the jobs interleave",
                 "[session][sms][privacy]") {
  enrol("natasha");
  const auto b = book("natasha", C1);
  const auto to_c1 = [&] {
    return std::count_if(gateway.waiting.begin(), gateway.waiting.end(),
                         [&](const OutboundSms& s) { return s.to && s.to->view() == C1; });
  };
  // The gateway is down: the ended notice waits in its queue.
  REQUIRE_FALSE(mgr->bookings().end_by_operator(b.session));
  settle();
  REQUIRE(to_c1() == 1);
  mgr->bookings().erase_client(C1, [](std::optional<BookingError>) {});
  settle();
  CHECK(to_c1() == 0);
  // A notice whose job comes after the erasure's is never queued.
  const auto again = book("natasha", C1);
  mgr->bookings().erase_client(C1, [](std::optional<BookingError>) {});
  REQUIRE_FALSE(mgr->bookings().end_by_operator(again.session));
  settle();
  CHECK(to_c1() == 0);
  gateway.accept_all();
  CHECK(std::none_of(gateway.sent.begin(), gateway.sent.end(), [&](const auto& s) { return s.to == C1; }));
}

TEST_CASE_METHOD(SmsFixture, "after a restart, what waited for the gateway is queued again", "[session][sms]") {
  enrol("natasha");
  const auto b = book("natasha", C1);
  FakePeer talent;
  hello_talent(talent, "natasha");
  send(talent, b.session, "t1", "sebelum restart");
  settle();
  REQUIRE(gateway.waiting.size() == 1);
  mgr->detach(talent);
  // A new relay on the same store: the gateway's memory is gone.
  FakeGateway fresh;
  auto restarted = make_manager();
  restarted->enable_sms(fresh, numbers);
  auto live = st->live_sessions();
  for (auto& r : live) r.client_number = std::make_shared<const crypto::ArenaText>(numbers, *st->client_number(r.client_id));
  restarted->load(st->talents(), std::move(live));
  restarted->sms()->resume();
  settle();
  REQUIRE(fresh.waiting.size() == 1);
  CHECK(fresh.waiting[0].text == "sebelum restart");
  CHECK(fresh.waiting[0].to->view() == C1);
  fresh.accept_all();
  settle();
  CHECK(st->pending(b.session, proto::Role::client).empty());
  // And inbound routing is back.
  std::optional<InboundResult> r;
  restarted->on_sms(InboundSms{C1, P1, "sudah", {}}, [&](InboundResult v) { r = v; });
  settle();
  CHECK(r->code() == "stored");
}
