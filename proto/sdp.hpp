#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tirai::proto {

// The relay-only rule of calls (design §11), applied to every SDP and every
// trickled ICE candidate before it reaches the other side: only `typ relay`
// candidates cross, with `raddr 0.0.0.0 rport 0`, so neither side ever
// learns the other's address even from a modified client. No I/O here.

// A trickled candidate as RTCIceCandidate.toJSON() gives it.
struct IceCandidate {
  std::string candidate;  // "candidate:…"; "" is the end of candidates
  std::optional<std::string> sdp_mid;
  std::optional<std::int64_t> sdp_mline_index;
  std::optional<std::string> username_fragment;
};

// The addresses a relay candidate may name: the TURN server's relay
// addresses as IP literals. Empty: any IP literal (never a host name, which
// the other side's browser would look up in DNS).
using RelayAddresses = std::span<const std::string>;

enum class CandidateVerdict {
  relay,      // `out` holds the rewritten candidate
  dropped,    // host, srflx, prflx, mDNS, a name, or an address not in the list: not forwarded
  malformed,  // not a candidate at all: refused with bad_request
};

// Filters one candidate attribute value, "candidate:…" (RFC 8839; an "a="
// prefix is accepted). A relay candidate is written back with raddr
// 0.0.0.0, rport 0 and only the extensions browsers need (generation, ufrag,
// network-id, network-cost, tcptype).
CandidateVerdict filter_candidate(std::string_view in, RelayAddresses allowed, std::string& out);

struct SdpFilterCounts {
  int kept = 0;     // relay candidates forwarded
  int dropped = 0;  // candidates removed
};

// Rewrites a whole SDP (an offer or an answer): exactly one media section,
// `m=audio` over UDP/TLS/RTP/SAVPF with a DTLS fingerprint and ICE
// credentials, else it is refused; candidates filtered as above; the
// addresses of the o=, c= and a=rtcp lines and the m= port zeroed; free-text
// lines (i=, u=, e=, p=) removed, and every attribute but those a browser's
// audio needs, by exact name (so no candidate crosses spelt "a=CANDIDATE:"
// for a parser that ignores case, nor a=remote-candidates). Returns nullopt
// with `why` (for a bad_request answer) when the SDP is malformed or not one
// audio section; nothing of it is forwarded then.
std::optional<std::string> filter_sdp(std::string_view sdp, RelayAddresses allowed, std::string& why,
                                      SdpFilterCounts* counts = nullptr);

// The text form of an IPv4 or IPv6 literal as inet_ntop writes it (so that
// "2001:DB8::1" and "2001:db8:0::1" compare equal); nullopt for anything else.
std::optional<std::string> canonical_ip(std::string_view s);

}  // namespace tirai::proto
