#include "proto/sdp.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <vector>

namespace tirai::proto {

namespace {

bool all_digits(std::string_view s, std::size_t max_len) {
  return !s.empty() && s.size() <= max_len && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool ice_chars(std::string_view s) {
  return !s.empty() && s.size() <= 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
         });
}

bool is_port(std::string_view s) {
  if (!all_digits(s, 5)) return false;
  return std::stoul(std::string(s)) <= 65535;
}

// Splits on single spaces; empty fields (two spaces) count as malformed.
std::vector<std::string_view> fields(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const auto sp = s.find(' ', start);
    out.push_back(s.substr(start, sp == std::string_view::npos ? std::string_view::npos : sp - start));
    if (sp == std::string_view::npos) break;
    start = sp + 1;
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// The extensions a browser needs to pair candidates; anything else could
// carry whatever a modified client put in it.
bool kept_extension(std::string_view name) {
  static constexpr std::array names{"generation", "ufrag", "network-id", "network-cost", "tcptype"};
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The attributes a browser's audio call needs, by their exact (lowercase)
// names: every other a= line is dropped. A parser that reads names without
// regard to case or as prefixes (Firefox's does) must not be handed a
// candidate under another spelling ("a=CANDIDATE:", "a=candidateX:").
bool known_attribute(std::string_view name) {
  static constexpr std::array names{
      "candidate", "end-of-candidates", "ice-ufrag",  "ice-pwd",       "ice-options", "fingerprint",
      "setup",     "mid",               "group",      "msid",          "msid-semantic", "extmap",
      "extmap-allow-mixed", "rtpmap",   "fmtp",       "rtcp-fb",       "rtcp-mux",    "rtcp-rsize",
      "rtcp-xr",   "rtcp",              "ssrc",       "ssrc-group",    "sendrecv",    "sendonly",
      "recvonly",  "inactive",          "ptime",      "maxptime"};
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool extension_value_ok(std::string_view v) {
  return !v.empty() && v.size() <= 64 && std::all_of(v.begin(), v.end(), [](char c) {
           return c > ' ' && c < 0x7f;
         });
}

}  // namespace

std::optional<std::string> canonical_ip(std::string_view s) {
  if (s.empty() || s.size() > 45) return std::nullopt;
  const std::string z(s);
  char buf[INET6_ADDRSTRLEN];
  if (s.find(':') == std::string_view::npos) {
    in_addr a4{};
    if (inet_pton(AF_INET, z.c_str(), &a4) != 1) return std::nullopt;
    return std::string(inet_ntop(AF_INET, &a4, buf, sizeof buf));
  }
  in6_addr a6{};
  if (inet_pton(AF_INET6, z.c_str(), &a6) != 1) return std::nullopt;
  return std::string(inet_ntop(AF_INET6, &a6, buf, sizeof buf));
}

CandidateVerdict filter_candidate(std::string_view in, RelayAddresses allowed, std::string& out) {
  out.clear();
  if (in.starts_with("a=")) in.remove_prefix(2);
  if (!in.starts_with("candidate:")) return CandidateVerdict::malformed;
  in.remove_prefix(10);
  const auto f = fields(in);
  // foundation component transport priority address port "typ" type [pairs…]
  if (f.size() < 8 || (f.size() - 8) % 2 != 0) return CandidateVerdict::malformed;
  if (!ice_chars(f[0]) || !all_digits(f[1], 3) || !all_digits(f[3], 10) || !is_port(f[5]) || f[6] != "typ")
    return CandidateVerdict::malformed;
  if (!iequals(f[2], "udp") && !iequals(f[2], "tcp")) return CandidateVerdict::malformed;
  const auto token = [](std::string_view t) {
    return !t.empty() && t.size() <= 255 && std::all_of(t.begin(), t.end(), [](char c) { return c > ' ' && c < 0x7f; });
  };
  if (!token(f[4]) || !token(f[7])) return CandidateVerdict::malformed;
  for (std::size_t i = 8; i < f.size(); i += 2)
    if (!token(f[i]) || !token(f[i + 1])) return CandidateVerdict::malformed;

  if (f[7] != "relay") return CandidateVerdict::dropped;
  const auto address = canonical_ip(f[4]);
  if (!address) return CandidateVerdict::dropped;  // a name (mDNS or DNS): the other side would look it up
  if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), *address) == allowed.end())
    return CandidateVerdict::dropped;

  out.reserve(in.size() + 32);
  out += "candidate:";
  for (int i : {0, 1, 2, 3}) {
    out += f[i];
    out += ' ';
  }
  out += *address;
  out += ' ';
  out += f[5];
  out += " typ relay raddr 0.0.0.0 rport 0";
  for (std::size_t i = 8; i < f.size(); i += 2) {
    if (f[i] == "raddr" || f[i] == "rport" || !kept_extension(f[i]) || !extension_value_ok(f[i + 1])) continue;
    out += ' ';
    out += f[i];
    out += ' ';
    out += f[i + 1];
  }
  return CandidateVerdict::relay;
}

std::optional<std::string> filter_sdp(std::string_view sdp, RelayAddresses allowed, std::string& why,
                                      SdpFilterCounts* counts) {
  const auto fail = [&why](std::string_view reason) -> std::optional<std::string> {
    why = reason;
    return std::nullopt;
  };
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start < sdp.size();) {
    auto nl = sdp.find('\n', start);
    if (nl == std::string_view::npos) nl = sdp.size();
    auto line = sdp.substr(start, nl - start);
    if (line.ends_with('\r')) line.remove_suffix(1);
    start = nl + 1;
    if (line.empty()) {
      if (start < sdp.size()) return fail("the SDP has an empty line");
      break;
    }
    if (line.size() < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z')
      return fail("the SDP has a line that is not <letter>=<value>");
    if (std::any_of(line.begin(), line.end(), [](char c) { return c == '\r' || c == '\0'; }))
      return fail("the SDP has a control character inside a line");
    lines.push_back(line);
  }
  if (lines.empty() || lines.front() != "v=0") return fail("the SDP must start with v=0");
  if (lines.size() > 500) return fail("the SDP has too many lines");

  std::string out;
  out.reserve(sdp.size());
  int media = 0;
  bool fingerprint = false, ufrag = false, pwd = false, origin = false;
  SdpFilterCounts local;
  std::string cand;
  for (auto line : lines) {
    const char kind = line[0];
    const auto value = line.substr(2);
    switch (kind) {
      case 'v':
      case 's':
      case 't':
      case 'b':
        out += line;
        break;
      case 'o': {
        const auto f = fields(value);
        if (origin || f.size() != 6 || !all_digits(f[1], 20) || !all_digits(f[2], 20) || f[3] != "IN")
          return fail("the SDP's o= line is malformed");
        origin = true;
        out += "o=- ";
        out += f[1];
        out += ' ';
        out += f[2];
        out += " IN IP4 0.0.0.0";
        break;
      }
      case 'c':
        if (!value.starts_with("IN ")) return fail("the SDP's c= line is malformed");
        out += "c=IN IP4 0.0.0.0";
        break;
      case 'm': {
        ++media;
        const auto f = fields(value);
        if (f.size() < 4 || f[0] != "audio") return fail("a call carries one audio section and nothing else");
        if (f[2] != "UDP/TLS/RTP/SAVPF") return fail("the audio section must be UDP/TLS/RTP/SAVPF (DTLS-SRTP)");
        if (!all_digits(f[1], 5)) return fail("the SDP's m= line is malformed");
        for (std::size_t i = 3; i < f.size(); ++i)
          if (!all_digits(f[i], 3)) return fail("the SDP's m= line is malformed");
        out += "m=audio ";
        out += f[1] == "0" ? "0" : "9";  // port 0 rejects the section; otherwise ICE decides
        for (std::size_t i = 2; i < f.size(); ++i) {
          out += ' ';
          out += f[i];
        }
        break;
      }
      case 'a': {
        const auto name = value.substr(0, value.find(':'));
        if (!known_attribute(name)) continue;
        if (name == "candidate") {
          switch (filter_candidate(value, allowed, cand)) {
            case CandidateVerdict::malformed: return fail("the SDP has a malformed candidate");
            case CandidateVerdict::dropped: ++local.dropped; continue;
            case CandidateVerdict::relay:
              ++local.kept;
              out += "a=";
              out += cand;
              break;
          }
          break;
        }
        if (name == "rtcp") {
          out += "a=rtcp:9 IN IP4 0.0.0.0";
          break;
        }
        if (name == "fingerprint") fingerprint = true;
        if (name == "ice-ufrag") ufrag = true;
        if (name == "ice-pwd") pwd = true;
        out += line;
        break;
      }
      default:
        continue;  // i=, u=, e=, p=, z=, k=, r=: free text or unused by browsers
    }
    out += "\r\n";
  }
  if (media != 1) return fail("a call carries one audio section and nothing else");
  if (!origin) return fail("the SDP has no o= line");
  if (!fingerprint) return fail("the SDP has no DTLS fingerprint");
  if (!ufrag || !pwd) return fail("the SDP has no ICE credentials");
  if (counts) *counts = local;
  return out;
}

}  // namespace tirai::proto
