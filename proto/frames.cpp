#include "proto/frames.hpp"

#include "proto/json_parse.hpp"
#include "proto/json_writer.hpp"
#include "proto/utf8.hpp"
#include "proto/wipe.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <charconv>

namespace tirai::proto {

namespace json = boost::json;

namespace {

FrameError bad(std::string message, std::optional<std::string> id = std::nullopt) {
  return FrameError{ErrorCode::bad_request, std::move(message), std::move(id)};
}

// Reads a required string field; sets `err` and returns nullopt when missing or mistyped.
std::optional<std::string> string_field(const json::object& o, std::string_view key,
                                        std::optional<FrameError>& err,
                                        const std::optional<std::string>& id) {
  const auto* v = o.if_contains(key);
  if (!v) {
    err = bad(fmt::format("missing field '{}'", key), id);
    return std::nullopt;
  }
  if (!v->is_string()) {
    err = bad(fmt::format("field '{}' must be a string", key), id);
    return std::nullopt;
  }
  return std::string(v->get_string());
}

std::optional<std::int64_t> int_field(const json::object& o, std::string_view key,
                                      std::optional<FrameError>& err,
                                      const std::optional<std::string>& id) {
  const auto* v = o.if_contains(key);
  if (!v) {
    err = bad(fmt::format("missing field '{}'", key), id);
    return std::nullopt;
  }
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
    return static_cast<std::int64_t>(v->get_uint64());
  err = bad(fmt::format("field '{}' must be an integer", key), id);
  return std::nullopt;
}

Inbound parse_hello(const json::object& o) {
  std::optional<FrameError> err;
  auto role = string_field(o, "role", err, std::nullopt);
  if (!role) return *err;
  Hello h;
  if (o.if_contains("resume")) {
    if (*role != "talent" && *role != "client") return bad("field 'role' must be \"talent\" or \"client\"");
    auto resume = string_field(o, "resume", err, std::nullopt);
    if (!resume) return *err;
    h.role = *role == "talent" ? Role::talent : Role::client;
    h.resume = std::move(*resume);
    return h;
  }
  if (*role == "talent") {
    h.role = Role::talent;
    auto alias = string_field(o, "alias", err, std::nullopt);
    if (!alias) return *err;
    auto secret = string_field(o, "secret", err, std::nullopt);
    if (!secret) return *err;
    h.alias = std::move(*alias);
    h.secret = std::move(*secret);
  } else if (*role == "client") {
    h.role = Role::client;
    auto token = string_field(o, "token", err, std::nullopt);
    if (!token) return *err;
    h.token = std::move(*token);
  } else {
    return bad("field 'role' must be \"talent\" or \"client\"");
  }
  return h;
}

Inbound parse_send(const json::object& o, const Limits& limits, const std::optional<std::string>& id) {
  std::optional<FrameError> err;
  auto session = string_field(o, "session", err, id);
  if (!session) return *err;
  if (!id) {
    if (o.if_contains("id")) return bad("field 'id' must be a string of 1 to 64 characters");
    return bad("missing field 'id'");
  }
  auto text = string_field(o, "text", err, id);
  if (!text) return *err;
  const auto chars = utf8_length(*text);
  if (!chars) return bad("field 'text' is not valid UTF-8", id);
  if (*chars == 0) return bad("field 'text' must not be empty", id);
  if (*chars > limits.max_text_chars)
    return FrameError{ErrorCode::too_large,
                      fmt::format("text is longer than {} characters", limits.max_text_chars), id};
  return Send{std::move(*session), *id, std::move(*text)};
}

std::optional<CallAction> call_action_from(std::string_view a) {
  for (auto c : {CallAction::start, CallAction::accept, CallAction::decline, CallAction::sdp, CallAction::candidate,
                 CallAction::hangup})
    if (to_string(c) == a) return c;
  return std::nullopt;
}

// An optional field that may also be null: absent and null both give nullopt.
template <typename T, typename Get>
bool optional_field(const json::object& o, std::string_view key, std::optional<T>& out, Get get) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return true;
  return get(*v, out);
}

Inbound parse_call(const json::object& o, const std::optional<std::string>& id) {
  std::optional<FrameError> err;
  auto session = string_field(o, "session", err, id);
  if (!session) return *err;
  auto action_text = string_field(o, "action", err, id);
  if (!action_text) return *err;
  const auto action = call_action_from(*action_text);
  if (!action) return bad("field 'action' must be start, accept, decline, sdp, candidate or hangup", id);
  Call c;
  c.session = std::move(*session);
  c.action = *action;
  if (*action == CallAction::start) {
    c.id = id;
    return c;
  }
  auto call = string_field(o, "call", err, id);
  if (!call) return *err;
  c.call = std::move(*call);
  if (*action == CallAction::sdp) {
    const auto* d = o.if_contains("sdp");
    if (!d || !d->is_object()) return bad("field 'sdp' must be an object with 'type' and 'sdp'", id);
    auto type = string_field(d->get_object(), "type", err, id);
    if (!type) return *err;
    if (*type != "offer" && *type != "answer") return bad("field 'sdp.type' must be \"offer\" or \"answer\"", id);
    auto text = string_field(d->get_object(), "sdp", err, id);
    if (!text) return *err;
    c.sdp_type = *type == "offer" ? SdpType::offer : SdpType::answer;
    c.sdp = std::move(*text);
  } else if (*action == CallAction::hangup) {
    if (const auto* r = o.if_contains("reason")) {
      if (!r->is_string() || (r->get_string() != "hangup" && r->get_string() != "failed"))
        return bad("field 'reason' of a hangup must be \"hangup\" or \"failed\"", id);
      c.failed = r->get_string() == "failed";
    }
  } else if (*action == CallAction::candidate) {
    const auto* d = o.if_contains("candidate");
    if (!d || !d->is_object()) return bad("field 'candidate' must be an object", id);
    const auto& co = d->get_object();
    auto text = string_field(co, "candidate", err, id);
    if (!text) return *err;
    c.candidate.candidate = std::move(*text);
    const auto get_string = [](const json::value& v, std::optional<std::string>& out) {
      if (!v.is_string() || v.get_string().size() > 64) return false;
      out = std::string(v.get_string());
      return true;
    };
    const auto get_index = [](const json::value& v, std::optional<std::int64_t>& out) {
      if (v.is_int64() && v.get_int64() >= 0 && v.get_int64() < 64) out = v.get_int64();
      else if (v.is_uint64() && v.get_uint64() < 64) out = static_cast<std::int64_t>(v.get_uint64());
      else return false;
      return true;
    };
    if (!optional_field(co, "sdpMid", c.candidate.sdp_mid, get_string))
      return bad("field 'candidate.sdpMid' must be a short string or null", id);
    if (!optional_field(co, "sdpMLineIndex", c.candidate.sdp_mline_index, get_index))
      return bad("field 'candidate.sdpMLineIndex' must be a small integer or null", id);
    if (!optional_field(co, "usernameFragment", c.candidate.username_fragment, get_string))
      return bad("field 'candidate.usernameFragment' must be a short string or null", id);
  }
  return c;
}

}  // namespace

std::string_view to_string(CallAction a) {
  switch (a) {
    case CallAction::start: return "start";
    case CallAction::accept: return "accept";
    case CallAction::decline: return "decline";
    case CallAction::sdp: return "sdp";
    case CallAction::candidate: return "candidate";
    case CallAction::hangup: return "hangup";
  }
  return "hangup";
}

std::string_view to_string(SdpType t) { return t == SdpType::offer ? "offer" : "answer"; }

Inbound parse_frame(std::string_view frame, const Limits& limits) {
  if (!valid_utf8(frame)) return bad("frame is not valid UTF-8");
  json::error_code ec;
  // A small stack buffer holds a typical frame's parse tree without touching the heap.
  unsigned char buf[4096];
  // A hello's tree holds a secret or a token: the buffer is wiped on the way
  // out, whichever return takes it.
  struct WipeIfHello {
    void* at;
    std::size_t size;
    bool hello = false;
    ~WipeIfHello() {
      if (hello) wipe(at, size);
    }
  } wipe_guard{buf, sizeof(buf)};
  json::static_resource mr(buf, sizeof(buf));
  json::parse_options opts;
  opts.max_depth = 8;
  // Parsed straight into the value it returns: assigning a tree to a value
  // with other storage would copy it to the heap.
  // Only a hello carries a secret or a token: the parser's own buffer is
  // wiped for frames that may be one.
  const bool maybe_hello = frame.find("hello") != std::string_view::npos;
  const auto parse = [&]() -> json::value {
    try {
      return parse_json(frame, ec, &mr, opts, maybe_hello);
    } catch (const std::bad_alloc&) {
      // The stack buffer is too small for a large but valid frame (a long
      // text): the static resource throws, whatever the error-code overload
      // says of parse errors. Parse again on the heap.
      ec = {};
      return parse_json(frame, ec, {}, opts, maybe_hello);
    }
  };
  const json::value v = parse();
  if (ec) return bad("malformed JSON");
  if (!v.is_object()) return bad("a frame must be a JSON object");
  const auto& o = v.get_object();

  // The request id is echoed in errors only when it is a usable string.
  std::optional<std::string> id;
  if (const auto* idv = o.if_contains("id"); idv && idv->is_string()) {
    const auto n = utf8_length(idv->get_string());
    if (n && *n >= 1 && *n <= 64) id = std::string(idv->get_string());
  }

  const auto* type = o.if_contains("type");
  if (!type) return bad("missing field 'type'", id);
  if (!type->is_string()) return bad("field 'type' must be a string", id);
  const std::string_view t = type->get_string();

  std::optional<FrameError> err;
  if (t == "hello") {
    wipe_guard.hello = true;
    return parse_hello(o);
  }
  if (t == "send") return parse_send(o, limits, id);
  if (t == "ack") {
    auto session = string_field(o, "session", err, id);
    if (!session) return *err;
    auto seq = int_field(o, "seq", err, id);
    if (!seq) return *err;
    if (*seq < 0) return bad("field 'seq' must not be negative", id);
    return Ack{std::move(*session), *seq};
  }
  if (t == "end") {
    auto session = string_field(o, "session", err, id);
    if (!session) return *err;
    return End{std::move(*session)};
  }
  if (t == "call") return parse_call(o, id);
  if (t == "logout") return Logout{};
  if (t == "delete_account") {
    wipe_guard.hello = true;
    auto secret = string_field(o, "secret", err, id);
    if (!secret) return *err;
    return DeleteAccount{std::move(*secret)};
  }
  if (t == "rate") {
    auto session = string_field(o, "session", err, id);
    if (!session) return *err;
    auto score = int_field(o, "score", err, id);
    if (!score) return *err;
    if (*score < 1 || *score > 5) return bad("field 'score' must be 1 to 5", id);
    return Rate{std::move(*session), static_cast<int>(*score)};
  }
  return FrameError{ErrorCode::unknown_type, "unknown frame type", id};
}

std::string_view to_string(SessionState s) {
  switch (s) {
    case SessionState::open: return "open";
    case SessionState::active: return "active";
    case SessionState::closing: return "closing";
    case SessionState::closed: return "closed";
  }
  return "closed";
}

std::optional<SessionState> session_state_from(std::string_view s) {
  if (s == "open") return SessionState::open;
  if (s == "active") return SessionState::active;
  if (s == "closing") return SessionState::closing;
  if (s == "closed") return SessionState::closed;
  return std::nullopt;
}

namespace {
void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

void append_session_fields(std::string& out, const SessionView& s) {
  out += "\"session\":";
  append_json_string(out, s.session);
  out += ",\"peer\":";
  append_json_string(out, s.peer);
  out += ",\"package\":";
  append_json_string(out, s.package);
  out += ",\"channels\":[";
  for (std::size_t i = 0; i < s.channels.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, s.channels[i]);
  }
  out += "],\"state\":";
  append_json_string(out, to_string(s.state));
  out += ",\"expires_at\":\"";
  append_rfc3339(out, s.expires_at);
  out += '"';
  if (s.client) {
    out += ",\"client\":{\"verified\":";
    out += s.client->verified ? "true" : "false";
    out += ",\"rating\":{\"average\":";
    out += s.client->ratings ? fmt::format("{:.2f}", s.client->average) : "null";
    out += ",\"count\":";
    out += std::to_string(s.client->ratings);
    out += "}}";
  }
  if (s.by_phone) out += ",\"by_phone\":true";
}
}  // namespace

std::string welcome_frame(Role role, const std::vector<SessionView>& sessions, std::string_view resume, bool calls) {
  std::string out = "{\"type\":\"welcome\",\"role\":";
  append_json_string(out, to_string(role));
  out += calls ? ",\"calls\":true" : ",\"calls\":false";
  if (!resume.empty()) {
    out += ",\"resume\":";
    append_json_string(out, resume);
  }
  out += ",\"sessions\":[";
  for (std::size_t i = 0; i < sessions.size(); ++i) {
    if (i) out += ',';
    out += '{';
    append_session_fields(out, sessions[i]);
    out += '}';
  }
  out += "]}";
  return out;
}

namespace {
// ["a","b",...]
void append_string_array(std::string& out, const std::vector<std::string>& items) {
  out += '[';
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, items[i]);
  }
  out += ']';
}

void append_ice(std::string& out, const IceServers& ice) {
  out += ",\"ice\":{\"servers\":[{\"urls\":";
  append_string_array(out, ice.urls);
  out += ",\"username\":";
  append_json_string(out, ice.username);
  out += ",\"credential\":";
  append_json_string(out, ice.credential);
  out += "}],\"transport_policy\":\"relay\"}";
}
}  // namespace

std::string phone_access_frame(const SipAccess& a) {
  std::string out = "{\"type\":\"phone\",\"ws\":";
  append_string_array(out, a.ws_urls);
  out += ",\"domain\":";
  append_json_string(out, a.domain);
  out += ",\"username\":";
  append_json_string(out, a.username);
  out += ",\"password\":";
  append_json_string(out, a.password);
  out += ",\"expires_at\":\"";
  append_rfc3339(out, a.expires_at);
  out += '"';
  if (a.ice) append_ice(out, *a.ice);
  out += '}';
  return out;
}

std::string session_booked_frame(const SessionView& s) {
  std::string out = "{\"type\":\"session\",";
  append_session_fields(out, s);
  out += '}';
  return out;
}

std::string accepted_frame(std::string_view id, std::string_view session, std::int64_t seq, bool redacted) {
  std::string out;
  append_accepted_frame(out, id, session, seq, redacted);
  return out;
}

void append_accepted_frame(std::string& out, std::string_view id, std::string_view session, std::int64_t seq,
                           bool redacted) {
  out.reserve(out.size() + 64 + id.size() + session.size());
  out += "{\"type\":\"accepted\",\"id\":";
  append_json_string(out, id);
  out += ",\"session\":";
  append_json_string(out, session);
  out += ",\"seq\":";
  append_int(out, seq);
  if (redacted) out += ",\"redacted\":true";
  out += '}';
}

std::string message_frame(std::string_view session, std::int64_t seq, std::string_view from,
                          std::string_view text, UnixMs sent_at, bool redacted) {
  std::string out;
  append_message_frame(out, session, seq, from, text, sent_at, redacted);
  return out;
}

void append_message_frame(std::string& out, std::string_view session, std::int64_t seq, std::string_view from,
                          std::string_view text, UnixMs sent_at, bool redacted) {
  out.reserve(out.size() + 112 + session.size() + from.size() + text.size());
  out += "{\"type\":\"message\",\"session\":";
  append_json_string(out, session);
  out += ",\"seq\":";
  append_int(out, seq);
  out += ",\"from\":";
  append_json_string(out, from);
  out += ",\"text\":";
  append_json_string(out, text);
  out += ",\"sent_at\":\"";
  append_rfc3339(out, sent_at);
  out += '"';
  if (redacted) out += ",\"redacted\":true";
  out += '}';
}

std::string session_state_frame(std::string_view session, SessionState state, std::string_view reason,
                                std::optional<std::int64_t> grace_seconds) {
  std::string out = "{\"type\":\"session\",\"session\":";
  append_json_string(out, session);
  out += ",\"state\":";
  append_json_string(out, to_string(state));
  out += ",\"reason\":";
  append_json_string(out, reason);
  if (grace_seconds) {
    out += ",\"grace_seconds\":";
    out += std::to_string(*grace_seconds);
  }
  out += '}';
  return out;
}

std::string expiring_notice_frame(std::string_view session, SessionState state,
                                  std::int64_t expires_in_seconds) {
  std::string out = "{\"type\":\"session\",\"session\":";
  append_json_string(out, session);
  out += ",\"state\":";
  append_json_string(out, to_string(state));
  out += ",\"notice\":\"expiring\",\"expires_in\":";
  out += std::to_string(expires_in_seconds);
  out += '}';
  return out;
}

std::string quota_notice_frame(std::string_view session, SessionState state, std::int64_t remaining) {
  std::string out = "{\"type\":\"session\",\"session\":";
  append_json_string(out, session);
  out += ",\"state\":";
  append_json_string(out, to_string(state));
  out += ",\"notice\":\"quota\",\"remaining\":";
  out += std::to_string(remaining);
  out += '}';
  return out;
}

std::string account_deleted_frame() { return R"({"type":"account_deleted"})"; }

std::string rated_frame(std::string_view session, int score) {
  std::string out = "{\"type\":\"rated\",\"session\":";
  append_json_string(out, session);
  out += ",\"score\":";
  out += std::to_string(score);
  out += '}';
  return out;
}

std::string error_frame(ErrorCode code, std::string_view message, const std::optional<std::string>& id) {
  std::string out = "{\"type\":\"error\",\"code\":";
  append_json_string(out, to_string(code));
  out += ",\"message\":";
  append_json_string(out, message);
  if (id) {
    out += ",\"id\":";
    append_json_string(out, *id);
  }
  out += '}';
  return out;
}

// ---------------------------------------------------------------- calls

namespace {
std::string call_head(std::string_view action, std::string_view session, std::string_view call) {
  std::string out = "{\"type\":\"call\",\"action\":\"";
  out += action;
  out += "\",\"session\":";
  append_json_string(out, session);
  out += ",\"call\":";
  append_json_string(out, call);
  return out;
}

}  // namespace

std::string call_started_frame(std::string_view session, std::string_view call, const std::optional<std::string>& id,
                               const IceServers& ice) {
  auto out = call_head("started", session, call);
  if (id) {
    out += ",\"id\":";
    append_json_string(out, *id);
  }
  append_ice(out, ice);
  out += '}';
  return out;
}

std::string call_ringing_frame(std::string_view session, std::string_view call, std::string_view from,
                               const IceServers& ice) {
  auto out = call_head("ringing", session, call);
  out += ",\"from\":";
  append_json_string(out, from);
  append_ice(out, ice);
  out += '}';
  return out;
}

std::string call_accepted_frame(std::string_view session, std::string_view call) {
  return call_head("accepted", session, call) + '}';
}

std::string call_sdp_frame(std::string_view session, std::string_view call, SdpType type, std::string_view sdp) {
  auto out = call_head("sdp", session, call);
  out += ",\"sdp\":{\"type\":\"";
  out += to_string(type);
  out += "\",\"sdp\":";
  append_json_string(out, sdp);
  out += "}}";
  return out;
}

std::string call_candidate_frame(std::string_view session, std::string_view call, const IceCandidate& c) {
  auto out = call_head("candidate", session, call);
  out += ",\"candidate\":{\"candidate\":";
  append_json_string(out, c.candidate);
  out += ",\"sdpMid\":";
  if (c.sdp_mid) append_json_string(out, *c.sdp_mid);
  else out += "null";
  out += ",\"sdpMLineIndex\":";
  if (c.sdp_mline_index) append_int(out, *c.sdp_mline_index);
  else out += "null";
  if (c.username_fragment) {
    out += ",\"usernameFragment\":";
    append_json_string(out, *c.username_fragment);
  }
  out += "}}";
  return out;
}

std::string call_expiring_frame(std::string_view session, std::string_view call, std::int64_t seconds) {
  auto out = call_head("expiring", session, call);
  out += ",\"seconds\":";
  append_int(out, seconds);
  out += '}';
  return out;
}

std::string call_ended_frame(std::string_view session, std::string_view call, std::string_view reason,
                             std::int64_t seconds) {
  auto out = call_head("ended", session, call);
  out += ",\"reason\":";
  append_json_string(out, reason);
  out += ",\"seconds\":";
  append_int(out, seconds);
  out += '}';
  return out;
}

}  // namespace tirai::proto
