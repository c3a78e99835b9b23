#include "crypto/keyring.hpp"
#include "relay/config/config.hpp"
#include "relay/daemon/daemon.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <algorithm>

using namespace tirai;
using namespace tirai::relay;

TEST_CASE("a master key rotation runs hardened: no core dumps, not dumpable", "[daemon][privacy]") {
  // This process starts out dumpable, with core files allowed as far as the
  // hard limit lets them, so that the rotation is what turns both off.
  ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  rlimit core{};
  REQUIRE(::getrlimit(RLIMIT_CORE, &core) == 0);
  core.rlim_cur = std::min<rlim_t>(core.rlim_max, 1 << 20);
  REQUIRE(::setrlimit(RLIMIT_CORE, &core) == 0);
  REQUIRE(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1);

  test::TempDir dir;
  const auto config = parse_config("", dir.path());
  crypto::Keyring::load_or_create(config.keys.master_key_file);
  rotate_master_key(config, dir.path() / "new.key");

  CHECK(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0);
  REQUIRE(::getrlimit(RLIMIT_CORE, &core) == 0);
  CHECK(core.rlim_cur == 0);
}
