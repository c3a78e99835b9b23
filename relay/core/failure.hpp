#pragma once
#include <string>
#include <string_view>

namespace tirai::relay {

// An expected failure of a capability's operation: what went wrong as the
// capability's own enum (each listener maps it to its protocol: the admin
// API to an HTTP status, in one place), and a message for the person who
// asked. `to_code(Errc)`, declared beside each enum, names it on the wire.
template <typename Errc>
struct Failure {
  Errc errc{};
  std::string message;
  std::string_view code() const { return to_code(errc); }
};

}  // namespace tirai::relay
