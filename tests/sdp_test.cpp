// The relay-only filter of calls (design §11) on SDP and candidates that
// Chromium and Firefox really produced (tests/data/webrtc/, see its README).
#include "proto/sdp.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <vector>

using namespace tirai::proto;
namespace json = boost::json;

namespace {

std::string data(const std::string& name) {
  std::ifstream in(std::string(TIRAI_TEST_DATA) + "/webrtc/" + name, std::ios::binary);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  return out;
}

// The addresses of the browsers' own side in the captures (a TEST-NET
// address and a documentation IPv6 one); the TURN server relays from 198.51.100.7.
const std::vector<std::string> own_addresses = {"192.0.2.10", "2001:db8::10", ".local"};
const std::string turn_relay = "198.51.100.7";

void check_relay_only(const std::string& out) {
  for (const auto& a : own_addresses) CHECK(out.find(a) == std::string::npos);
  for (const auto& line : lines_of(out)) {
    INFO(line);
    if (line.starts_with("a=candidate:")) {
      CHECK(line.find(" typ relay raddr 0.0.0.0 rport 0") != std::string::npos);
      CHECK(line.find(" " + turn_relay + " ") != std::string::npos);
    }
    if (line.starts_with("c=")) CHECK(line == "c=IN IP4 0.0.0.0");
    if (line.starts_with("m=")) CHECK(line.starts_with("m=audio 9 UDP/TLS/RTP/SAVPF "));
    if (line.starts_with("o=")) CHECK(line.ends_with(" IN IP4 0.0.0.0"));
    if (line.starts_with("a=rtcp:")) CHECK(line == "a=rtcp:9 IN IP4 0.0.0.0");
  }
  CHECK(out.ends_with("\r\n"));
}

}  // namespace

TEST_CASE("captured offers and answers keep only their relay candidates", "[proto][sdp]") {
  const std::vector<std::string> allowed = {turn_relay};
  for (const std::string name :
       {"chromium-offer-all.sdp", "chromium-offer-relay.sdp", "chromium-answer-relay.sdp", "chromium-mdns-offer-all.sdp",
        "firefox-offer-all.sdp", "firefox-offer-relay.sdp", "firefox-answer-relay.sdp", "firefox-mdns-offer-all.sdp"}) {
    INFO(name);
    const auto in = data(name);
    int relay_in = 0, others_in = 0;
    for (const auto& line : lines_of(in))
      if (line.starts_with("a=candidate:")) (line.find(" typ relay") != std::string::npos ? relay_in : others_in)++;
    REQUIRE(relay_in > 0);
    std::string why;
    SdpFilterCounts counts;
    const auto out = filter_sdp(in, allowed, why, &counts);
    INFO(why);
    REQUIRE(out);
    CHECK(counts.kept == relay_in);
    CHECK(counts.dropped == others_in);
    check_relay_only(*out);
    // What a browser needs to connect is still there.
    for (const char* kept : {"a=fingerprint:", "a=ice-ufrag:", "a=ice-pwd:", "a=setup:", " opus/48000/2"})
      CHECK(out->find(kept) != std::string::npos);
    // A second pass changes nothing: what crosses is already clean.
    SdpFilterCounts again;
    CHECK(filter_sdp(*out, allowed, why, &again) == *out);
    CHECK(again.dropped == 0);
  }
}

TEST_CASE("a relay candidate naming another address than the TURN server's is dropped", "[proto][sdp]") {
  const std::vector<std::string> elsewhere = {"203.0.113.9"};
  std::string why;
  SdpFilterCounts counts;
  const auto out = filter_sdp(data("chromium-offer-relay.sdp"), elsewhere, why, &counts);
  REQUIRE(out);
  CHECK(counts.kept == 0);
  CHECK(out->find("a=candidate:") == std::string::npos);
  // With no list, any IP literal of a relay candidate passes.
  CHECK(filter_sdp(data("chromium-offer-relay.sdp"), {}, why, &counts));
  CHECK(counts.kept > 0);
}

TEST_CASE("video, data channels and anything but one audio section are refused", "[proto][sdp]") {
  std::string why;
  CHECK_FALSE(filter_sdp(data("chromium-offer-video.sdp"), {}, why));
  CHECK(why == "a call carries one audio section and nothing else");
  CHECK_FALSE(filter_sdp(data("chromium-offer-datachannel.sdp"), {}, why));
  CHECK(why == "a call carries one audio section and nothing else");

  const auto audio = data("chromium-offer-relay.sdp");
  const auto m = audio.find("m=audio");
  REQUIRE(m != std::string::npos);
  CHECK_FALSE(filter_sdp(audio + audio.substr(m), {}, why));  // two audio sections
  CHECK(why == "a call carries one audio section and nothing else");
  CHECK_FALSE(filter_sdp(audio.substr(0, m), {}, why));  // none
}

TEST_CASE("malformed SDP is refused with a reason", "[proto][sdp]") {
  const auto good = data("firefox-offer-relay.sdp");
  std::string why;
  REQUIRE(filter_sdp(good, {}, why));
  const auto without = [&](std::string_view prefix) {
    std::string out;
    for (const auto& line : lines_of(good))
      if (!line.starts_with(prefix)) out += line + "\r\n";
    return out;
  };
  const auto replace = [&](std::string_view from, std::string_view to) {
    std::string s = good;
    const auto at = s.find(from);
    REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
  };
  struct Case {
    std::string sdp;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"", "the SDP must start with v=0"},
      {"hello world", "the SDP has a line that is not <letter>=<value>"},
      {replace("v=0", "v=1"), "the SDP must start with v=0"},
      {without("a=fingerprint:"), "the SDP has no DTLS fingerprint"},
      {without("a=ice-pwd:"), "the SDP has no ICE credentials"},
      {without("o="), "the SDP has no o= line"},
      {replace("UDP/TLS/RTP/SAVPF", "RTP/AVP"), "the audio section must be UDP/TLS/RTP/SAVPF (DTLS-SRTP)"},
      {replace("m=audio", "m=video"), "a call carries one audio section and nothing else"},
      {replace("typ relay", "typ"), "the SDP has a malformed candidate"},
      {replace("\r\ns=-", "\r\n\r\ns=-"), "the SDP has an empty line"},
      {replace("s=-", std::string("s=\0x", 3)), "the SDP has a control character inside a line"},
  };
  for (const auto& c : cases) {
    INFO(c.reason);
    why.clear();
    CHECK_FALSE(filter_sdp(c.sdp, {}, why));
    CHECK(why == c.reason);
  }
}

TEST_CASE("free-text and address lines are rewritten or removed", "[proto][sdp]") {
  std::string sdp = data("chromium-offer-relay.sdp");
  const auto s = sdp.find("s=-\r\n");
  REQUIRE(s != std::string::npos);
  sdp.insert(s + 5, "i=my home is 10.1.2.3\r\nu=http://10.1.2.3/\r\ne=me@example.com\r\np=+6281234567890\r\n");
  sdp += "a=remote-candidates:1 10.1.2.3 5000\r\n";
  // Candidates under other spellings, which a parser that ignores case or
  // reads names as prefixes (Firefox's) would still take.
  sdp += "a=CANDIDATE:1 1 udp 2122260223 192.168.1.2 50000 typ host\r\n"
         "a=candidateX:2 1 udp 2122260223 192.168.1.3 50000 typ host\r\n"
         "a=candidate 3 1 udp 2122260223 192.168.1.4 50000 typ host\r\n"
         "a=RTCP:50001 IN IP4 192.168.1.5\r\n"
         "a=Remote-Candidates:1 192.168.1.6 5000\r\n"
         "a=x-unknown:192.168.1.7\r\n";
  std::string why;
  const auto out = filter_sdp(sdp, {}, why);
  REQUIRE(out);
  CHECK(out->find("10.1.2.3") == std::string::npos);
  CHECK(out->find("192.168.1.") == std::string::npos);
  CHECK(out->find("example.com") == std::string::npos);
  CHECK(out->find("6281234567890") == std::string::npos);
}

TEST_CASE("trickled candidates from both browsers: relay kept and rewritten, the rest dropped", "[proto][sdp]") {
  const std::vector<std::string> allowed = {turn_relay};
  for (const std::string name : {"chromium-candidates-all.jsonl", "chromium-candidates-relay.jsonl",
                                 "chromium-mdns-candidates-all.jsonl", "firefox-candidates-all.jsonl",
                                 "firefox-candidates-relay.jsonl", "firefox-mdns-candidates-all.jsonl"}) {
    INFO(name);
    int relay = 0;
    for (const auto& line : lines_of(data(name))) {
      if (line.empty()) continue;
      const auto cand = std::string(json::parse(line).as_object().at("candidate").as_string());
      INFO(cand);
      if (cand.empty()) continue;  // Firefox's end of candidates: passed through by the relay, no address in it
      std::string out;
      const auto verdict = filter_candidate(cand, allowed, out);
      if (cand.find(" typ relay") != std::string::npos) {
        REQUIRE(verdict == CandidateVerdict::relay);
        ++relay;
        CHECK(out.find(" typ relay raddr 0.0.0.0 rport 0") != std::string::npos);
        for (const auto& a : own_addresses) CHECK(out.find(a) == std::string::npos);
        // Foundation, component, transport, priority, address and port are the browser's.
        CHECK(out.substr(0, out.find(" typ ")) == cand.substr(0, cand.find(" typ ")));
      } else {
        CHECK(verdict == CandidateVerdict::dropped);
        CHECK(out.empty());
      }
    }
    CHECK(relay > 0);
  }
}

TEST_CASE("candidate edge cases", "[proto][sdp]") {
  std::string out;
  const std::string relay = "candidate:1 1 udp 25042943 198.51.100.7 50000 typ relay raddr 192.0.2.10 rport 6000";
  CHECK(filter_candidate(relay, {}, out) == CandidateVerdict::relay);
  CHECK(out == "candidate:1 1 udp 25042943 198.51.100.7 50000 typ relay raddr 0.0.0.0 rport 0");
  CHECK(filter_candidate("a=" + relay, {}, out) == CandidateVerdict::relay);
  // Unknown extensions are not carried over; the known ones are.
  CHECK(filter_candidate(relay + " generation 0 secret 192.0.2.10 ufrag abcd", {}, out) == CandidateVerdict::relay);
  CHECK(out.ends_with(" rport 0 generation 0 ufrag abcd"));
  // A relay candidate by name would make the other browser look it up in DNS.
  CHECK(filter_candidate("candidate:1 1 udp 2 turn.example.com 50000 typ relay", {}, out) == CandidateVerdict::dropped);
  CHECK(filter_candidate("candidate:1 1 udp 2 abcd.local 50000 typ host", {}, out) == CandidateVerdict::dropped);
  CHECK(filter_candidate("candidate:1 1 udp 2 192.0.2.10 50000 typ srflx raddr 0.0.0.0 rport 0", {}, out) ==
        CandidateVerdict::dropped);
  CHECK(filter_candidate("candidate:1 1 udp 2 192.0.2.10 50000 typ prflx", {}, out) == CandidateVerdict::dropped);
  // IPv6 is compared in canonical form.
  const std::vector<std::string> v6 = {*canonical_ip("2001:DB8:0::7")};
  CHECK(filter_candidate("candidate:1 1 udp 2 2001:db8::7 50000 typ relay", v6, out) == CandidateVerdict::relay);
  CHECK(out.find(" 2001:db8::7 ") != std::string::npos);
  for (const char* bad : {"", "candidate:", "candidate:1 1 udp 2 1.2.3.4 5 typ", "candidate:1 1 sctp 2 1.2.3.4 5 typ relay",
                          "candidate:1 1 udp x 1.2.3.4 5 typ relay", "candidate:1 1 udp 2 1.2.3.4 70000 typ relay",
                          "candidate:1 1 udp 2 1.2.3.4 5 type relay", "candidate:1  1 udp 2 1.2.3.4 5 typ relay",
                          "candidate:1 1 udp 2 1.2.3.4 5 typ relay generation", "foo:1 1 udp 2 1.2.3.4 5 typ relay"}) {
    INFO(bad);
    CHECK(filter_candidate(bad, {}, out) == CandidateVerdict::malformed);
  }
  CHECK(canonical_ip("1.2.3") == std::nullopt);
  CHECK(canonical_ip("::ffff:1.2.3.4") == "::ffff:1.2.3.4");
}
