#include "proto/sms.hpp"

#include "proto/utf8.hpp"

#include <algorithm>
#include <cctype>

namespace tirai::proto {

namespace {

// The non-ASCII characters of the GSM 03.38 default alphabet.
constexpr std::u32string_view gsm_basic_extra =
    U"£¥èéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà";
// Characters of the extension table (sent as ESC + one septet).
constexpr std::u32string_view gsm_extension = U"^{}\\[~]|€\f";

// Septets for one character in GSM 7-bit; 0 when it has no GSM form.
int gsm_septets(char32_t c) {
  if (gsm_extension.find(c) != std::u32string_view::npos) return 2;
  if (c == '\n' || c == '\r') return 1;
  if (c >= 0x20 && c < 0x7F) return c == '`' ? 0 : 1;
  return gsm_basic_extra.find(c) != std::u32string_view::npos ? 1 : 0;
}

std::size_t parts_for(std::size_t units, std::size_t single, std::size_t per_part) {
  if (units == 0) return 0;
  return units <= single ? 1 : (units + per_part - 1) / per_part;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
  return out;
}

std::string latin1_to_utf8(std::string_view bytes, bool cp1252) {
  // Windows-1252 differs from Latin-1 in 0x80-0x9F; these are its letters there.
  static constexpr char32_t cp1252_high[32] = {
      0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
      0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
      0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    char32_t cp = b;
    if (cp1252 && b >= 0x80 && b < 0xA0 && cp1252_high[b - 0x80]) cp = cp1252_high[b - 0x80];
    utf8_append(out, cp);
  }
  return out;
}

std::optional<std::string> utf16be_to_utf8(std::string_view bytes) {
  if (bytes.size() % 2) return std::nullopt;
  std::string out;
  out.reserve(bytes.size() * 3 / 2);
  auto unit = [&](std::size_t i) {
    return static_cast<char32_t>((static_cast<unsigned char>(bytes[i]) << 8) | static_cast<unsigned char>(bytes[i + 1]));
  };
  for (std::size_t i = 0; i < bytes.size(); i += 2) {
    char32_t u = unit(i);
    if (u >= 0xD800 && u <= 0xDBFF) {
      if (i + 3 >= bytes.size()) return std::nullopt;
      const char32_t low = unit(i + 2);
      if (low < 0xDC00 || low > 0xDFFF) return std::nullopt;
      u = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00);
      i += 2;
    } else if (u >= 0xDC00 && u <= 0xDFFF) {
      return std::nullopt;
    }
    utf8_append(out, u);
  }
  return out;
}

}  // namespace

SmsCoding sms_coding(std::string_view utf8) {
  const auto cps = utf8_decode(utf8);
  if (!cps) return SmsCoding::ucs2;
  for (char32_t c : *cps)
    if (gsm_septets(c) == 0) return SmsCoding::ucs2;
  return SmsCoding::gsm7;
}

std::size_t sms_parts(std::string_view utf8) {
  const auto cps = utf8_decode(utf8);
  if (!cps) return 0;
  if (sms_coding(utf8) == SmsCoding::gsm7) {
    std::size_t septets = 0;
    for (char32_t c : *cps) septets += static_cast<std::size_t>(gsm_septets(c));
    return parts_for(septets, 160, 153);
  }
  std::size_t units = 0;
  for (char32_t c : *cps) units += c >= 0x10000 ? 2 : 1;
  return parts_for(units, 70, 67);
}

std::optional<std::string> to_utf8(std::string_view bytes, std::string_view charset) {
  const std::string cs = upper(charset);
  if (cs.empty() || cs == "UTF-8" || cs == "UTF8") {
    if (!valid_utf8(bytes)) return std::nullopt;
    return std::string(bytes);
  }
  if (cs == "UTF-16BE" || cs == "UCS-2" || cs == "UCS-2BE" || cs == "UTF-16") return utf16be_to_utf8(bytes);
  if (cs == "ISO-8859-1" || cs == "LATIN1" || cs == "ISO8859-1") return latin1_to_utf8(bytes, false);
  if (cs == "WINDOWS-1252" || cs == "CP1252") return latin1_to_utf8(bytes, true);
  if (cs == "8-BIT") return valid_utf8(bytes) ? std::string(bytes) : latin1_to_utf8(bytes, false);
  return std::nullopt;
}

std::string url_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xF]);
    }
  }
  return out;
}

std::optional<std::string> url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty()) continue;
    const auto eq = part.find('=');
    auto key = url_decode(part.substr(0, eq));
    auto value = url_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1));
    if (!key || !value) return std::nullopt;
    out.emplace_back(std::move(*key), std::move(*value));
  }
  return out;
}

}  // namespace tirai::proto
