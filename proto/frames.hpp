#pragma once
#include "proto/error_code.hpp"
#include "proto/sdp.hpp"
#include "proto/timefmt.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tirai::proto {

enum class Role { talent, client };
constexpr std::string_view to_string(Role r) { return r == Role::talent ? "talent" : "client"; }

// ---- inbound frames (peer → relay) ----

struct Hello {
  Role role{};
  std::string alias;   // talent only
  std::string secret;  // talent only
  std::string token;   // client only
  // Either role: a resume ticket from an earlier welcome, instead of the
  // secret or the token (a page reloaded keeps only this).
  std::string resume;
};

struct Send {
  std::string session;
  std::string id;  // the sender's id, 1–64 characters, used for idempotent retries
  std::string text;
};

struct Ack {
  std::string session;
  std::int64_t seq{};
};

struct End {
  std::string session;
};

struct Rate {
  std::string session;
  int score{};
};

// Call signalling (design §11). Which fields are set depends on the action.
enum class CallAction { start, accept, decline, sdp, candidate, hangup };
std::string_view to_string(CallAction a);
enum class SdpType { offer, answer };
std::string_view to_string(SdpType t);

struct Call {
  std::string session;
  CallAction action{};
  std::string call;               // the relay's call id, "c_…"; every action but start
  std::optional<std::string> id;  // start: the caller's request id, echoed in `started`
  SdpType sdp_type{};             // sdp
  std::string sdp;                // sdp: the description, unfiltered as the peer sent it
  IceCandidate candidate;         // candidate: unfiltered
  bool failed = false;            // hangup: the side's media never connected ("reason":"failed")
};

// Why a frame was refused; `id` echoes the frame's "id" when it had a usable one.
struct FrameError {
  ErrorCode code{};
  std::string message;
  std::optional<std::string> id;
};

// Forget this login: the relay drops every resume ticket of the talent (or
// of the client's session), then closes the connection with 1000.
struct Logout {};

// A talent deletes her own account (design §1: at once, without asking
// anyone): her secret again, as a hello carries it.
struct DeleteAccount {
  std::string secret;
};

using Inbound = std::variant<Hello, Send, Ack, End, Rate, Call, Logout, DeleteAccount, FrameError>;

// Whether a frame carried a secret or a token, so that its bytes must be
// overwritten wherever they were read into.
inline bool carries_secret(const Inbound& f) {
  return std::holds_alternative<Hello>(f) || std::holds_alternative<DeleteAccount>(f);
}

struct Limits {
  std::size_t max_text_chars = 4096;
};

// Parses one WebSocket text frame. Never throws on bad input: a malformed,
// mistyped or unknown frame comes back as a FrameError carrying the protocol
// code (bad_request, unknown_type, too_large).
Inbound parse_frame(std::string_view frame, const Limits& limits);

// ---- outbound frames (relay → peer), each one JSON object on one line ----

enum class SessionState { open, active, closing, closed };
std::string_view to_string(SessionState s);
std::optional<SessionState> session_state_from(std::string_view s);

// What a talent is shown of a client: verified or not, and the average and
// count of ratings from earlier sessions with any talent. Never who rated.
struct ClientStandingView {
  bool verified = false;
  double average = 0;
  std::int64_t ratings = 0;
};

struct SessionView {
  std::string session;
  std::string peer;  // the other side's alias
  std::string package;
  std::vector<std::string> channels;
  SessionState state{};
  UnixMs expires_at{};
  std::optional<ClientStandingView> client;  // talents' views only
  bool by_phone = false;  // talents' views: the client can be called on the phone through the relay
};

// What a side needs to reach the TURN server: its URLs and the credential
// issued to this side for this call.
struct IceServers {
  std::vector<std::string> urls;
  std::string username;
  std::string credential;
};

// A talent's SIP account on the relay's Kamailio (phone calls, design §13):
// where her console's SIP stack connects, her domain, and a short-lived
// credential in auth_ephemeral's scheme.
struct SipAccess {
  std::vector<std::string> ws_urls;
  std::string domain;
  std::string username;  // "<expiry>:<alias>"
  std::string password;
  UnixMs expires_at{};
  // With browser calls on: the TURN server her phone calls' media goes through.
  std::optional<IceServers> ice;
};

// `resume`, when not empty, is the ticket a later hello may carry instead of
// the secret or the token. `calls`: whether this relay has calls turned on
// (a voice package on a relay without them shows no Call button).
std::string welcome_frame(Role role, const std::vector<SessionView>& sessions, std::string_view resume = {},
                          bool calls = false);
// {"type":"phone",...}: a talent's SIP account, sent after her welcome.
std::string phone_access_frame(const SipAccess& access);
// A session booked after the talent's hello.
std::string session_booked_frame(const SessionView& s);
// `redacted`: the contact guard hid part of the text before it was stored.
std::string accepted_frame(std::string_view id, std::string_view session, std::int64_t seq, bool redacted = false);
std::string message_frame(std::string_view session, std::int64_t seq, std::string_view from,
                          std::string_view text, UnixMs sent_at, bool redacted = false);
// The same two frames appended to `out`: the relay writes every message's
// pair into one reused buffer.
void append_accepted_frame(std::string& out, std::string_view id, std::string_view session, std::int64_t seq,
                           bool redacted = false);
void append_message_frame(std::string& out, std::string_view session, std::int64_t seq, std::string_view from,
                          std::string_view text, UnixMs sent_at, bool redacted = false);
// A state change; grace_seconds is written for "closing" only.
std::string session_state_frame(std::string_view session, SessionState state, std::string_view reason,
                                std::optional<std::int64_t> grace_seconds);
std::string expiring_notice_frame(std::string_view session, SessionState state,
                                  std::int64_t expires_in_seconds);
// The package's message quota is nearly used up: `remaining` messages left.
std::string quota_notice_frame(std::string_view session, SessionState state, std::int64_t remaining);
// The answer to delete_account, before the connection closes.
std::string account_deleted_frame();
std::string rated_frame(std::string_view session, int score);

// ---- call frames (design §11); every one names its session ----

// To the caller: the call exists; `id` echoes the start frame's.
std::string call_started_frame(std::string_view session, std::string_view call, const std::optional<std::string>& id,
                               const IceServers& ice);
// To the callee: `from` is the caller's alias.
std::string call_ringing_frame(std::string_view session, std::string_view call, std::string_view from,
                               const IceServers& ice);
std::string call_accepted_frame(std::string_view session, std::string_view call);
// `sdp` and `candidate` already filtered.
std::string call_sdp_frame(std::string_view session, std::string_view call, SdpType type, std::string_view sdp);
std::string call_candidate_frame(std::string_view session, std::string_view call, const IceCandidate& c);
// The package's call minutes run out in `seconds`.
std::string call_expiring_frame(std::string_view session, std::string_view call, std::int64_t seconds);
std::string call_ended_frame(std::string_view session, std::string_view call, std::string_view reason,
                             std::int64_t seconds);
std::string error_frame(ErrorCode code, std::string_view message,
                        const std::optional<std::string>& id = std::nullopt);

}  // namespace tirai::proto
