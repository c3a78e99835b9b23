// Resume tickets: what a reloaded page says hello with instead of a secret.
#include "relay/connections/resume_tickets.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace tirai::relay;
using tirai::proto::Role;

TEST_CASE("a resume ticket names its owner until it expires or is revoked", "[connections]") {
  ResumeTickets t;
  const auto issued = t.issue({Role::talent, "natasha"}, 1000);
  const auto a = issued.ticket;
  const auto b = t.issue({Role::client, "s_1"}, 500).ticket;
  CHECK(issued.hash == ResumeTickets::hash_of(a));
  CHECK(issued.hash != a);
  CHECK(issued.evicted.empty());
  CHECK(a.size() == 43);  // 32 random bytes, base64url
  CHECK(a != b);
  auto owner = t.redeem(a, 999);
  REQUIRE(owner);
  CHECK(owner->role == Role::talent);
  CHECK(owner->name == "natasha");
  CHECK(t.redeem(b, 10)->name == "s_1");
  CHECK_FALSE(t.redeem(a, 1000));                 // expired
  CHECK_FALSE(t.redeem("not a ticket", 0));
  CHECK_FALSE(t.redeem(a.substr(0, 42) + (a.back() == 'A' ? 'Q' : 'A'), 0));  // one character off

  SECTION("revoking an owner drops all its tickets and only those") {
    const auto a2 = t.issue({Role::talent, "natasha"}, 1000).ticket;
    const auto other = t.issue({Role::talent, "sari"}, 1000).ticket;
    t.revoke({Role::talent, "natasha"});
    CHECK_FALSE(t.redeem(a, 0));
    CHECK_FALSE(t.redeem(a2, 0));
    CHECK(t.redeem(other, 0));
    CHECK(t.redeem(b, 0));  // a client's session is another owner, whatever its name
    CHECK(t.size() == 2);
  }
  SECTION("purge drops what expired") {
    t.purge(600);
    CHECK(t.size() == 1);
    CHECK(t.redeem(a, 600));
    CHECK_FALSE(t.redeem(b, 0));
  }
  SECTION("an owner holds at most per_owner tickets: the oldest goes") {
    std::vector<std::string> more;
    for (std::size_t i = 0; i + 1 < ResumeTickets::per_owner; ++i)
      more.push_back(t.issue({Role::talent, "natasha"}, 1000).ticket);
    const auto last = t.issue({Role::talent, "natasha"}, 1000);
    more.push_back(last.ticket);
    CHECK(last.evicted == issued.hash);  // the caller drops it from the store too
    CHECK_FALSE(t.redeem(a, 0));  // the first one issued
    for (const auto& m : more) CHECK(t.redeem(m, 0));
    CHECK(t.size() == ResumeTickets::per_owner + 1);
  }
}

TEST_CASE("a ticket restored from its hash names its owner again", "[connections]") {
  ResumeTickets before;
  const auto issued = before.issue({Role::client, "s_9"}, 700);
  ResumeTickets after;  // a restarted relay
  CHECK_FALSE(after.redeem(issued.ticket, 0));
  after.restore(issued.hash, {Role::client, "s_9"}, 700);
  REQUIRE(after.redeem(issued.ticket, 0));
  CHECK(after.redeem(issued.ticket, 0)->name == "s_9");
  after.revoke({Role::client, "s_9"});
  CHECK(after.size() == 0);
}
