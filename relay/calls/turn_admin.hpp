#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tirai::relay {

// The TURN server's admin side, as calls need it. A credential that expires
// does not end an allocation that is already running, so the relay ends a
// call's allocations itself. The real one speaks to coturn's CLI
// (coturn_cli); tests use a fake. Every `done` runs on the relay thread.
class TurnAdmin {
 public:
  virtual ~TurnAdmin() = default;
  // Whether the TURN server answers and takes the password: a call whose
  // check fails ends `failed`.
  virtual void check(std::function<void(bool ok)> done) = 0;
  // Cancels every allocation made with one of `usernames`: done(how many),
  // or done(nullopt) when the server could not be asked.
  virtual void cancel(std::vector<std::string> usernames, std::function<void(std::optional<int>)> done) = 0;
  // Cancels every allocation whose username has the form tirai issues,
  // except those `spare` names: at start-up, no call of an earlier run is
  // live, whatever its browsers do. `spare` is asked when the server has
  // listed them, which may be long after the call when it was down: the
  // calls this run began by then are spared.
  virtual void cancel_all(std::function<bool(const std::string& username)> spare,
                          std::function<void(std::optional<int>)> done) = 0;
};

}  // namespace tirai::relay
