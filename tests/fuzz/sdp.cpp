// Fuzz target: the relay-only filter of calls (design §11), on a whole SDP
// and on one trickled candidate, as a modified client could send them.
// Invariants, the privacy rule itself: whatever is forwarded names no
// address but the TURN server's relay address (or 0.0.0.0), every candidate
// in it is `typ relay raddr 0.0.0.0 rport 0`, and filtering what was
// forwarded again changes nothing (so no second pass could uncover more).
#include "fuzz_check.hpp"
#include "proto/sdp.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace tirai::proto;

const std::vector<std::string> turn_relay = {"198.51.100.7", "2001:db8::7"};

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  for (std::size_t i = 0; i < s.size();) {
    const auto sp = s.find(' ', i);
    out.push_back(s.substr(i, sp == std::string_view::npos ? std::string_view::npos : sp - i));
    if (sp == std::string_view::npos) break;
    i = sp + 1;
  }
  return out;
}

void check_candidate(std::string_view c, RelayAddresses allowed) {
  FUZZ_CHECK(c.starts_with("candidate:"));
  const auto f = words(c.substr(10));
  FUZZ_CHECK(f.size() >= 12);
  FUZZ_CHECK(f[6] == "typ" && f[7] == "relay" && f[8] == "raddr" && f[9] == "0.0.0.0" && f[10] == "rport" &&
             f[11] == "0");
  const auto address = canonical_ip(f[4]);
  FUZZ_CHECK(address && *address == f[4]);
  if (!allowed.empty()) FUZZ_CHECK(std::find(allowed.begin(), allowed.end(), *address) != allowed.end());
  // Name-value pairs, and no second raddr or rport among them: a parser that
  // reads the last one would see it.
  FUZZ_CHECK(f.size() % 2 == 0);
  for (std::size_t i = 12; i < f.size(); i += 2) FUZZ_CHECK(f[i] != "raddr" && f[i] != "rport");
}

void check_sdp(const std::string& out, RelayAddresses allowed) {
  FUZZ_CHECK(out.ends_with("\r\n"));
  for (std::size_t start = 0; start < out.size();) {
    const auto end = out.find("\r\n", start);
    FUZZ_CHECK(end != std::string::npos);
    const std::string_view line(out.data() + start, end - start);
    start = end + 2;
    FUZZ_CHECK(line.size() >= 2 && line[1] == '=');
    FUZZ_CHECK(line.find('\r') == std::string_view::npos && line.find('\n') == std::string_view::npos);
    if (line.starts_with("a=candidate:")) check_candidate(line.substr(2), allowed);
    if (line.starts_with("c=")) FUZZ_CHECK(line == "c=IN IP4 0.0.0.0");
    if (line.starts_with("o=")) FUZZ_CHECK(line.ends_with(" IN IP4 0.0.0.0"));
    if (line.starts_with("a=rtcp:")) FUZZ_CHECK(line == "a=rtcp:9 IN IP4 0.0.0.0");
    if (line.starts_with("m=")) FUZZ_CHECK(line.starts_with("m=audio 9 ") || line.starts_with("m=audio 0 "));
    FUZZ_CHECK(!line.starts_with("a=remote-candidates") && !line.starts_with("i=") && !line.starts_with("u="));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  for (const RelayAddresses allowed : {RelayAddresses(turn_relay), RelayAddresses()}) {
    std::string why;
    SdpFilterCounts counts;
    if (const auto out = filter_sdp(in, allowed, why, &counts)) {
      check_sdp(*out, allowed);
      std::string why_again;
      SdpFilterCounts again;
      const auto twice = filter_sdp(*out, allowed, why_again, &again);
      FUZZ_CHECK(twice && *twice == *out);
      FUZZ_CHECK(again.kept == counts.kept && again.dropped == 0);
    } else {
      FUZZ_CHECK(!why.empty());
    }
    std::string cand;
    if (filter_candidate(in, allowed, cand) == CandidateVerdict::relay) {
      check_candidate(cand, allowed);
      std::string cand_again;
      FUZZ_CHECK(filter_candidate(cand, allowed, cand_again) == CandidateVerdict::relay && cand_again == cand);
    }
  }
  return 0;
}
