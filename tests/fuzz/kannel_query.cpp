// Fuzz target: the query of Kannel's inbound call (GET /v1/sms/kannel?…,
// design §9) as the SMS listener reads it: percent-decoding, the numbers
// (normalised to E.164 as gateways write them) and the text in its charset
// (UTF-8, UCS-2, Latin-1, Windows-1252, Kannel's 8-BIT). Invariants: a query
// that decodes encodes back to the same pairs; a normalised number is
// E.164; a converted text is valid UTF-8 and takes at least one SMS exactly
// when it is not empty.
#include "fuzz_check.hpp"
#include "proto/identifiers.hpp"
#include "proto/sms.hpp"
#include "proto/utf8.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace tirai::proto;

void check_text(std::string_view bytes, std::string_view charset) {
  const auto utf8 = to_utf8(bytes, charset);
  if (!utf8) return;
  FUZZ_CHECK(valid_utf8(*utf8));
  const auto coding = sms_coding(*utf8);
  FUZZ_CHECK(coding == SmsCoding::gsm7 || coding == SmsCoding::ucs2);
  FUZZ_CHECK((sms_parts(*utf8) == 0) == utf8->empty());
  // Text that came as UTF-8 is taken as it is.
  if (charset.empty() || charset == "UTF-8") FUZZ_CHECK(*utf8 == bytes);
}

void check_number(std::string_view raw) {
  for (const std::string_view country : {std::string_view{}, std::string_view{"62"}}) {
    const auto n = normalise_number(raw, country);
    if (!n) continue;
    FUZZ_CHECK(valid_e164(*n));
    FUZZ_CHECK(normalise_number(*n, country) == n);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view query(reinterpret_cast<const char*>(data), size);
  if (const auto params = parse_query(query)) {
    std::string again;
    for (const auto& [k, v] : *params) {
      if (!again.empty()) again += '&';
      again += url_encode(k) + "=" + url_encode(v);
    }
    FUZZ_CHECK(parse_query(again) == params);
    std::string_view text, charset;
    for (const auto& [k, v] : *params) {
      if (k == "from" || k == "to") check_number(v);
      if (k == "text") text = v;
      if (k == "charset") charset = v;
    }
    check_text(text, charset);
  }
  // The raw bytes as a message body in every charset a gateway names.
  for (const std::string_view charset :
       {"", "UTF-8", "UTF-16BE", "UCS-2", "UTF-16", "ISO-8859-1", "WINDOWS-1252", "8-BIT", "utf-8", "nonsense"})
    check_text(query, charset);
  check_number(query);
  return 0;
}
