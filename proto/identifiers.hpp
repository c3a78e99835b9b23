#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace tirai::proto {

// Talent alias: ^[a-z0-9][a-z0-9_-]{1,31}$ (design §3).
bool valid_alias(std::string_view alias) noexcept;

// Session id: "s_" followed by 26 lowercase base32 characters.
bool valid_session_id(std::string_view id) noexcept;

// A real phone number in E.164: '+' then 8 to 15 digits, first digit not 0.
bool valid_e164(std::string_view number) noexcept;

// Normalises a number as gateways deliver it, with spaces, dashes, dots and
// parentheses removed: "+62…", "0062…", or "62…" (international without the
// plus, as SMPP delivers it); with `country_code` (digits, e.g. "62") set, a
// national "0812…" becomes "+62812…". Returns E.164 or nullopt.
std::optional<std::string> normalise_number(std::string_view raw, std::string_view country_code = {});

}  // namespace tirai::proto
