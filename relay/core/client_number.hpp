#pragma once
#include "crypto/secret.hpp"
#include "relay/core/failure.hpp"

#include <memory>
#include <optional>
#include <string>

namespace tirai::relay {

// A client's real number, as the operator typed it, moved out of the
// request's heap string into locked memory (wiped when freed) so that store
// jobs that outlive the request carry no copy of it.
using SealedNumber = std::shared_ptr<const crypto::Secret>;

// Seals `number` (wiping the string) when it is E.164; nullopt otherwise
// (the string is wiped too).
std::optional<SealedNumber> seal_e164(std::string& number);

// What an operation answers for a number that is not E.164.
inline constexpr std::string_view not_e164_message = "the client number must be E.164: '+' and 8-15 digits";

}  // namespace tirai::relay
