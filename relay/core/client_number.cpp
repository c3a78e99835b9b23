#include "relay/core/client_number.hpp"

#include "proto/identifiers.hpp"
#include "proto/wipe.hpp"

namespace tirai::relay {

std::optional<SealedNumber> seal_e164(std::string& number) {
  const bool valid = proto::valid_e164(number);
  auto sealed = std::make_shared<const crypto::Secret>(crypto::Secret::from(number));
  proto::wipe(number);
  if (!valid) return std::nullopt;
  return sealed;
}

}  // namespace tirai::relay
