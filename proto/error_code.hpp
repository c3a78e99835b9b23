#pragma once
#include <string_view>

namespace tirai::proto {

// Every error a peer can be answered with (design §5). Each expected failure
// inside the relay maps to exactly one of these.
enum class ErrorCode {
  bad_request,
  too_large,
  unknown_type,
  auth_failed,
  not_in_session,
  session_closed,
  not_allowed,
  quota_exhausted,
  rate_limited,
  contact_details_blocked,
  busy,  // a call is already up in the session
  internal,
};

constexpr std::string_view to_string(ErrorCode c) {
  switch (c) {
    case ErrorCode::bad_request: return "bad_request";
    case ErrorCode::too_large: return "too_large";
    case ErrorCode::unknown_type: return "unknown_type";
    case ErrorCode::auth_failed: return "auth_failed";
    case ErrorCode::not_in_session: return "not_in_session";
    case ErrorCode::session_closed: return "session_closed";
    case ErrorCode::not_allowed: return "not_allowed";
    case ErrorCode::quota_exhausted: return "quota_exhausted";
    case ErrorCode::rate_limited: return "rate_limited";
    case ErrorCode::contact_details_blocked: return "contact_details_blocked";
    case ErrorCode::busy: return "busy";
    case ErrorCode::internal: return "internal";
  }
  return "internal";
}

inline constexpr ErrorCode all_error_codes[] = {
    ErrorCode::bad_request,    ErrorCode::too_large,       ErrorCode::unknown_type,
    ErrorCode::auth_failed,    ErrorCode::not_in_session,  ErrorCode::session_closed,
    ErrorCode::not_allowed,    ErrorCode::quota_exhausted, ErrorCode::rate_limited,
    ErrorCode::contact_details_blocked, ErrorCode::busy, ErrorCode::internal,
};

}  // namespace tirai::proto
