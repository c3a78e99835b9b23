#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tirai::proto {

// How a text travels as SMS: GSM 03.38 7-bit when every character is in the
// default alphabet or its extension table, else UCS-2 (UTF-16). The values are
// Kannel's `coding` numbers.
enum class SmsCoding : int { gsm7 = 0, ucs2 = 2 };

// The coding for a UTF-8 text (which must be valid UTF-8).
SmsCoding sms_coding(std::string_view utf8);

// How many SMS the text takes: 160 septets (153 per part when concatenated)
// in GSM 7-bit, where extension characters count twice; 70 UTF-16 units (67
// per part) in UCS-2. 0 for an empty text.
std::size_t sms_parts(std::string_view utf8);

// Converts a message body as a gateway hands it over to UTF-8. Charsets:
// UTF-8 (and "" for UTF-8), UTF-16BE / UCS-2 / UTF-16, ISO-8859-1 / LATIN1,
// WINDOWS-1252 / CP1252, and Kannel's "8-BIT" (UTF-8 when it is valid UTF-8,
// else Latin-1). nullopt for malformed input or an unknown charset.
std::optional<std::string> to_utf8(std::string_view bytes, std::string_view charset);

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string url_encode(std::string_view s);
// Decodes %XX and '+' (space); nullopt on a malformed escape.
std::optional<std::string> url_decode(std::string_view s);
// Splits "a=1&b=2" into decoded pairs; nullopt on a malformed escape.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view query);

}  // namespace tirai::proto
