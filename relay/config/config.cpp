// One option table per section, then the parser and the example text that
// both read them: over 500 lines because every option of design §7 is
// declared here once, with its default, its check and its help.
#include "relay/config/config.hpp"

#include "proto/identifiers.hpp"
#include "proto/sdp.hpp"
#include "proto/utf8.hpp"
#include "relay/config/network.hpp"
#include "relay/config/option_table.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

namespace tirai::relay {

std::string Address::str() const {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                             : fmt::format("{}:{}", host, port);
}

std::optional<Millis> parse_duration(std::string_view s) {
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc{} || p == s.data() || n < 0) return std::nullopt;
  const std::string_view unit(p, static_cast<std::size_t>(s.data() + s.size() - p));
  std::int64_t scale;
  if (unit == "ms") scale = 1;
  else if (unit == "s") scale = 1000;
  else if (unit == "m") scale = 60'000;
  else if (unit == "h") scale = 3'600'000;
  else if (unit == "d") scale = 86'400'000;
  else return std::nullopt;
  if (n > INT64_MAX / scale / 1000) return std::nullopt;
  return Millis(n * scale);
}

std::optional<DailyWindow> parse_daily_window(std::string_view s) {
  auto hhmm = [](std::string_view t) -> std::optional<int> {
    if (t.size() != 5 || t[2] != ':') return std::nullopt;
    int h = 0, m = 0;
    auto [p1, e1] = std::from_chars(t.data(), t.data() + 2, h);
    auto [p2, e2] = std::from_chars(t.data() + 3, t.data() + 5, m);
    if (e1 != std::errc{} || e2 != std::errc{} || p1 != t.data() + 2 || p2 != t.data() + 5 || h < 0 || h > 23 || m < 0 ||
        m > 59)
      return std::nullopt;
    return h * 60 + m;
  };
  if (s.size() != 11 || s[5] != '-') return std::nullopt;
  auto a = hhmm(s.substr(0, 5)), b = hhmm(s.substr(6));
  if (!a || !b || *a == *b) return std::nullopt;
  return DailyWindow{*a, *b};
}

std::string format_duration(Millis d) {
  const auto ms = d.count();
  if (ms % 86'400'000 == 0 && ms) return fmt::format("{}d", ms / 86'400'000);
  if (ms % 3'600'000 == 0 && ms) return fmt::format("{}h", ms / 3'600'000);
  if (ms % 60'000 == 0 && ms) return fmt::format("{}m", ms / 60'000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

std::optional<Address> parse_address(std::string_view s) {
  std::string_view host, port;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find("]:");
    if (close == std::string_view::npos) return std::nullopt;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos || s.find(':') != colon) return std::nullopt;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  // A bracket belongs only around an IPv6 address: one inside a host could
  // not be written back as the same address.
  if (host.find_first_of("[]") != std::string_view::npos) return std::nullopt;
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (host.empty() || port.empty() || ec != std::errc{} || p != port.data() + port.size() || value > 65535)
    return std::nullopt;
  return Address{std::string(host), static_cast<std::uint16_t>(value)};
}

std::optional<HttpUrl> parse_http_url(std::string_view s) {
  constexpr std::string_view scheme = "http://";
  if (!s.starts_with(scheme)) return std::nullopt;
  s.remove_prefix(scheme.size());
  const auto slash = s.find('/');
  const std::string_view authority = s.substr(0, slash);
  HttpUrl url;
  url.target = slash == std::string_view::npos ? "/" : std::string(s.substr(slash));
  if (authority.empty()) return std::nullopt;
  if (authority.find(':') == std::string_view::npos || (authority.front() == '[' && authority.back() == ']')) {
    url.host = std::string(authority);
  } else {
    auto a = parse_address(authority);
    if (!a) return std::nullopt;
    url.host = a->host;
    url.port = a->port;
  }
  if (url.host.empty() || url.target.find_first_of(" \r\n#") != std::string::npos) return std::nullopt;
  return url;
}

std::optional<std::string> parse_origin(std::string_view s) {
  std::string lower(s);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view rest = lower;
  std::string scheme;
  std::uint16_t default_port = 0;
  if (rest.starts_with("http://")) {
    scheme = "http", default_port = 80;
  } else if (rest.starts_with("https://")) {
    scheme = "https", default_port = 443;
  } else {
    return std::nullopt;
  }
  rest.remove_prefix(scheme.size() + 3);
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.empty() || rest.find_first_of("/?#@ \t\r\n\\") != std::string_view::npos) return std::nullopt;
  std::string host(rest);
  std::optional<std::uint16_t> port;
  const bool bracketed = rest.front() == '[';
  if (rest.find(':') != std::string_view::npos && !(bracketed && rest.back() == ']')) {
    auto a = parse_address(rest);
    if (!a) return std::nullopt;
    host = a->host.find(':') != std::string::npos ? "[" + a->host + "]" : a->host;
    port = a->port;
  } else if (bracketed && rest.back() != ']') {
    return std::nullopt;
  }
  if (host.empty() || host == "[]") return std::nullopt;
  std::string out = scheme + "://" + host;
  if (port && *port != default_port) out += ":" + std::to_string(*port);
  return out;
}

namespace {

using namespace options;

std::string format_daily_window(const DailyWindow& w) {
  return fmt::format("{:02}:{:02}-{:02}:{:02}", w.start / 60, w.start % 60, w.end / 60, w.end % 60);
}

Kind<std::optional<DailyWindow>> daily_window_or_never() {
  return {[](const toml::node& n, std::optional<DailyWindow>& out, std::string& why) {
            const auto s = n.value<std::string>();
            if (s && s->empty()) {
              out.reset();
              return true;
            }
            const auto w = s ? parse_daily_window(*s) : std::nullopt;
            if (!w) why = R"(must be "HH:MM-HH:MM" (or "" for never))";
            else out = w;
            return w.has_value();
          },
          [](const std::optional<DailyWindow>& w) { return toml_string(w ? format_daily_window(*w) : ""); }};
}

// A zone the C library finds under /usr/share/zoneinfo when local_time sets
// TZ to it; "UTC" always. No ".." and no leading '/', so that TZ never names
// a file outside that folder. The look-up must not throw: a name too long
// for a path is simply not a zone.
Kind<std::string> time_zone() {
  return {[](const toml::node& n, std::string& out, std::string& why) {
            const auto s = n.value<std::string>();
            std::error_code ec;
            const bool known = s && (*s == "UTC" || (s->find("..") == std::string::npos && !s->empty() &&
                                                      s->front() != '/' &&
                                                      std::filesystem::is_regular_file("/usr/share/zoneinfo/" + *s, ec)));
            if (!known) why = R"(must be an IANA time zone such as "Asia/Jakarta" (or "UTC"))";
            else out = *s;
            return known;
          },
          [](const std::string& s) { return toml_string(s); }};
}

// A message quota: 0 means none.
Kind<std::optional<std::int64_t>> quota() {
  const auto count = integer<std::int64_t>(0, 1'000'000'000);
  return {[read = count.read](const toml::node& n, std::optional<std::int64_t>& out, std::string& why) {
            std::int64_t v = 0;
            if (!read(n, v, why)) return false;
            out = v > 0 ? std::optional(v) : std::nullopt;
            return true;
          },
          [](const std::optional<std::int64_t>& v) { return fmt::format("{}", v.value_or(0)); }};
}

// A listener's deadline against slow clients.
Kind<Millis> deadline() { return duration_at_least(std::chrono::milliseconds(100)); }

Section<Config::Relay> relay_section() {
  using S = Config::Relay;
  Section<S> s{.name = "relay", .member = &Config::relay};
  s.table.options = {
      option("listen", &S::listen, address(), "WebSocket listener for talents and clients (/v1/ws)"),
      option("max_frame_bytes", &S::max_frame_bytes, integer<std::size_t>(256, 16 << 20),
             "a larger frame closes the connection with 1009"),
      option("max_text_chars", &S::max_text_chars, integer<std::size_t>(1, 1 << 20),
             "longest message text, in characters (too_large past it)"),
      option("max_connections", &S::max_connections, integer<std::size_t>(1, 10'000'000),
             "further connections are refused until some close"),
      option("max_outbound_frames", &S::max_outbound_frames, integer<std::size_t>(16, 1 << 20),
             "frames queued behind a socket that stopped taking bytes before the peer is disconnected (it "
             "replays on reconnect)"),
      option("idle_timeout", &S::idle_timeout, duration(), "a connection quiet for this long is pinged half-way and closed if it does not answer (0: never)"),
      option("hello_timeout", &S::hello_timeout, deadline(), "a connection must say hello within this time"),
      option("max_header_bytes", &S::max_header_bytes, integer<std::size_t>(1024, 1 << 20),
             "an upgrade's or a page's request head over this is answered 413"),
      option("allow_plaintext", &S::allow_plaintext, boolean(),
             "without [tls], listening on a non-loopback address needs this (and logs a warning)"),
      option("max_unauthenticated_per_address", &S::max_unauthenticated_per_address,
             integer<std::size_t>(1, 1'000'000),
             "connections not yet past hello, per source address (IPv6: per /64); more are closed at once"),
      option("trusted_proxies", &S::trusted_proxies, string_list(),
             R"(your reverse proxies, e.g. ["127.0.0.1", "10.0.0.0/8"]: their X-Forwarded-For / Forwarded name )"
             "the client for the login limits",
             [](const std::vector<std::string>& entries, const Complain& complain) {
               std::string why;
               if (!parse_networks(entries, why)) complain(why);
             }),
      option("public_url", &S::public_url, text(),
             R"(where people reach this port, e.g. "https://chat.example.com": session links and the one )"
             R"(Origin allowed on /v1/ws; empty: http(s)://<listen>)",
             [](const std::string& url, const Complain& complain) {
               if (!url.empty() && !parse_origin(url))
                 complain(R"(must be an http:// or https:// origin without a path, e.g. "https://chat.example.com")");
             }),
      option("resume_ttl", &S::resume_ttl, duration(),
             "a talent's reloaded console gets back in without the secret for this long after logging in"),
      option("web_root", &S::web_root, path(),
             "serve the web apps from this folder (node web/build.mjs --out FOLDER) instead of the built-in copy"),
  };
  return s;
}

Section<Config::Admin> admin_section() {
  using S = Config::Admin;
  Section<S> s{.name = "admin", .member = &Config::admin};
  s.table.options = {
      option("listen", &S::listen, address(), "admin HTTP API; keep it on loopback"),
      option("token_file", &S::token_file, path(), "bearer token for the admin API, created 0600 on first start"),
      option("allow_plaintext", &S::allow_plaintext, boolean(), "as relay.allow_plaintext, for the admin listener"),
      option("header_timeout", &S::header_timeout, deadline(),
             "a request's head (and TLS handshake) must arrive within this; also how long a kept-alive "
             "connection may idle"),
      option("body_timeout", &S::body_timeout, deadline(),
             "a request's body must arrive, and its answer be taken, within this: a slow client is dropped"),
      option("max_header_bytes", &S::max_header_bytes, integer<std::size_t>(1024, 1 << 20),
             "a request's head over this is answered 413"),
  };
  return s;
}

Section<Config::Tls> tls_section() {
  using S = Config::Tls;
  Section<S> s{.name = "tls", .member = &Config::tls};
  s.intro =
      "# With cert and key set, the relay serves wss:// and the admin API https://,\n"
      "# TLS 1.2 and 1.3 with forward-secret AEAD ciphers only. Unset by default.\n";
  s.example = S{"tls/cert.pem", "tls/key.pem"};
  s.table.options = {
      option("cert", &S::cert, path(), "PEM certificate chain"),
      option("key", &S::key, path(), "PEM private key"),
  };
  s.table.check = [](const S& tls, TableReader& r) {
    if (tls.cert.empty() != tls.key.empty()) r.table_error("tls", "set both cert and key, or neither");
  };
  return s;
}

Section<Config::Store> store_section() {
  using S = Config::Store;
  Section<S> s{.name = "store", .member = &Config::store};
  s.table.options = {
      option("path", &S::path, path(), "SQLite database (WAL mode), created 0600 on first start"),
      option("synchronous", &S::synchronous,
             choice<store::Synchronous>({{"normal", store::Synchronous::normal}, {"full", store::Synchronous::full}}),
             R"("normal": survives a crash of tiraid; "full": also a power cut, slower)"),
  };
  return s;
}

Section<Config::Keys> keys_section() {
  using S = Config::Keys;
  Section<S> s{.name = "keys", .member = &Config::keys};
  s.table.options = {
      option("master_key_file", &S::master_key_file, path(),
             "32 random bytes, created 0600 on first start; wider permissions are refused"),
  };
  return s;
}

Section<Config::Sessions> sessions_section() {
  using S = Config::Sessions;
  Section<S> s{.name = "sessions", .member = &Config::sessions};
  s.table.options = {
      option("warn_before", &S::warn_before, duration(),
             R"(both sides get an "expiring" notice this long before the end)"),
      option("grace", &S::grace, duration(),
             R"(after a session is ended, both may still write farewells this long; "0s" closes at once)"),
      option("retention", &S::retention, duration(), "minimal records of closed sessions are purged after this"),
      option("client_alias", &S::client_alias,
             choice<ClientAliasMode>(
                 {{"per_session", ClientAliasMode::per_session}, {"per_pair", ClientAliasMode::per_pair}}),
             R"("per_session": a new client alias every booking; "per_pair": stable per client and talent)"),
  };
  return s;
}

Section<Policy> policy_section() {
  using S = Policy;
  Section<S> s{.name = "policy", .member = &Config::policy};
  s.reload = "SIGHUP: every key, at once";
  s.table.options = {
      option("contact_guard", &S::contact_guard,
             choice<ContactGuard>(
                 {{"redact", ContactGuard::redact}, {"block", ContactGuard::block}, {"off", ContactGuard::off}}),
             R"(phone numbers, e-mail, @handles, WA/Telegram/IG/LINE links: "redact" to [hidden], "block", or )"
             R"("off")"),
      option("kyc_required_hours", &S::kyc_required_hours, daily_window_or_never(),
             R"(e.g. "22:00-06:00": unverified clients cannot be booked in this local window; "" means never)"),
      option("timezone", &S::timezone, time_zone(), R"(IANA time zone of kyc_required_hours, e.g. "Asia/Jakarta")"),
      option("restrict_below_rating", &S::restrict_below_rating, number(0, 5),
             "clients whose average rating falls below this are refused bookings; 0 turns it off"),
      option("restrict_min_ratings", &S::restrict_min_ratings, integer<int>(1, 1000),
             "...once they have at least this many ratings"),
      option("rating_window", &S::rating_window, duration(),
             "a talent may rate the client while closing and this long after the session closed"),
      option("rating_retention", &S::rating_retention, duration(),
             "a rating counts towards the client's standing, and is kept, this long; then it is deleted",
             [](Millis d, const Complain& complain) {
               if (d.count() == 0) complain("must be longer than 0s");
             }),
      option("messages_per_minute", &S::messages_per_minute, integer<int>(0, 100000),
             "per sender per session; more gets rate_limited (nothing is lost); 0 means no limit"),
      option("login_attempts_per_minute", &S::login_attempts_per_minute, integer<int>(0, 100000),
             "failed hellos per source address (then rate_limited) and per alias (then failures answer slowly); a "
             "right secret is never refused; 0 means no limit"),
  };
  return s;
}

Section<SmsConfig> sms_section() {
  using S = SmsConfig;
  // Only checked: there is nothing to choose yet.
  const Option<S> gateway{
      "gateway",
      [](TableReader& r, const toml::node& n, S&) {
        if (n.value<std::string>() != "kannel") r.error("gateway", n, R"(must be "kannel" (the only gateway so far))");
      },
      [](const S&) { return toml_string("kannel"); }, "the only gateway so far"};
  // Kept as written too, for what the operator reads back.
  const Option<S> sendsms_url{
      "sendsms_url",
      [](TableReader& r, const toml::node& n, S& m) {
        const auto s = n.value<std::string>();
        const auto url = s ? parse_http_url(*s) : std::nullopt;
        if (s && s->starts_with("http://") && s->substr(0, s->find_first_of("/?", 7)).find('@') != std::string::npos)
          r.error("sendsms_url", n,
                  "must not carry user:password@ (Kannel's credentials go in sms.username and sms.password)");
        else if (!url)
          r.error("sendsms_url", n, R"(must be an http:// URL such as "http://127.0.0.1:13013/cgi-bin/sendsms")");
        else {
          m.sendsms_url = *url;
          m.sendsms_url_text = *s;
        }
      },
      [](const S& m) { return toml_string(m.sendsms_url_text); }, "Kannel smsbox sendsms interface (http:// only)"};

  Section<S> s{.name = "sms", .member = &Config::sms};
  s.intro =
      "# Proxy numbers: clients text a pool number through Kannel (bearerbox +\n"
      "# smsbox); see docs/kannel.conf and README \"SMS through Kannel\". Off by default.\n";
  s.table.options = {
      option("enabled", &S::enabled, boolean(),
             "true: clients text the pool's numbers; needs inbound_secret, username, password and proxy_numbers"),
      gateway,
      option("listen", &S::listen, address(), "Kannel's sms-service calls GET /v1/sms/kannel here (plain HTTP)"),
      option("allow_plaintext", &S::allow_plaintext, boolean(), "listening on a non-loopback address needs this"),
      option("inbound_secret", &S::inbound_secret, secret_text(),
             "16+ characters; Kannel's get-url carries it as secret=...; required when enabled"),
      sendsms_url,
      option("username", &S::username, text(), "Kannel sendsms-user username; required when enabled"),
      option("password", &S::password, secret_text(), "...and its password"),
      option("proxy_numbers", &S::proxy_numbers, string_list(),
             R"(the pool, E.164, e.g. ["+6281100000001", "+6281100000002"]; required when enabled)",
             [](const std::vector<std::string>& numbers, const Complain& complain) {
               std::set<std::string> seen;
               for (const auto& number : numbers) {
                 if (!proto::valid_e164(number))
                   complain(fmt::format("\"{}\" is not E.164 ('+' and 8-15 digits)", number));
                 else if (!seen.insert(number).second)
                   complain(fmt::format("\"{}\" is listed twice", number));
               }
             }),
      option("number_selection", &S::number_selection,
             choice<NumberSelection>(
                 {{"sticky", NumberSelection::sticky}, {"avoid_sticky", NumberSelection::avoid_sticky}}),
             R"("sticky": reuse the number of the client's last session with that talent when free; )"
             R"("avoid_sticky": pick another)"),
      option("country_code", &S::country_code, text(),
             R"(e.g. "62": national numbers "0812..." from the gateway become "+62812..."; "" refuses them)",
             [](const std::string& code, const Complain& complain) {
               const bool digits = std::all_of(code.begin(), code.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
               if (!digits || code.size() > 3 || code.starts_with("0"))
                 complain(R"(must be 1-3 digits without a leading 0, e.g. "62" (or "" for none))");
             }),
      option("max_text_chars", &S::max_text_chars, integer<std::size_t>(1, 100000),
             "longest inbound SMS text (after concatenation); longer gets 413"),
      option("stop_words", &S::stop_words, string_list(),
             "an SMS that is just one of these (any case) ends the session (ended_by_client)",
             [](const std::vector<std::string>& words, const Complain& complain) {
               for (const auto& w : words)
                 if (w.empty() || w.find_first_of(" \t\r\n") != std::string::npos || !proto::valid_utf8(w))
                   complain("stop words are single words");
             }),
      option("out_of_session_reply", &S::out_of_session_reply, text(), R"("" sends none)"),
      option("out_of_session_interval", &S::out_of_session_interval, duration(),
             "at most one out-of-session reply per sender and proxy number in this time"),
      option("expiry_notice", &S::expiry_notice, text(), R"("" sends none)"),
      option("ended_notice", &S::ended_notice, text(), R"("" sends none)"),
      option("link_notice", &S::link_notice, text(), "the session link texted at booking with send_link",
             [](const std::string& t, const Complain& complain) {
               if (t.find("{link}") == std::string::npos) complain("must contain {link}, where the link goes");
             }),
      option("blocked_notice", &S::blocked_notice, text(),
             R"(answers an SMS that policy.contact_guard = "block" refused; "" sends none)"),
      option("retry_min", &S::retry_min, duration(), "first retry when Kannel is down or refuses; doubles each time..."),
      option("retry_max", &S::retry_max, duration(), "...up to this"),
      option("request_timeout", &S::request_timeout, duration(), "one sendsms request may take this long"),
      option("header_timeout", &S::header_timeout, deadline(), "as admin.header_timeout, for the listener Kannel calls"),
      option("body_timeout", &S::body_timeout, deadline(), "as admin.body_timeout, for the listener Kannel calls"),
      option("max_header_bytes", &S::max_header_bytes, integer<std::size_t>(1024, 1 << 20),
             "as admin.max_header_bytes, for the listener Kannel calls (the query is in the head)"),
  };
  s.table.check = [](const S& m, TableReader& r) {
    if (m.retry_min.count() == 0 || m.retry_max < m.retry_min)
      r.table_error("sms.retry_min", "must be above 0s and at most sms.retry_max");
    if (!m.enabled) return;
    auto need = [&](bool ok, std::string_view what) {
      if (!ok) r.table_error("sms", fmt::format("enabled = true needs {}", what));
    };
    need(proto::utf8_length(m.inbound_secret).value_or(0) >= 16, "inbound_secret of at least 16 characters");
    need(!m.proxy_numbers.empty(), "at least one number in proxy_numbers");
    need(!m.username.empty() && !m.password.empty(), "username and password of Kannel's sendsms-user");
  };
  return s;
}

Section<Config::Calls> calls_section() {
  using S = Config::Calls;
  Section<S> s{.name = "calls", .member = &Config::calls};
  s.table.options = {
      option("enabled", &S::enabled, boolean(), "voice calls in the web apps, relayed through coturn"),
      option("turn_urls", &S::turn_urls, string_list(),
             R"(the TURN server as both sides reach it, e.g. "turn:turn.example.com:3478?transport=udp", )"
             R"("turns:turn.example.com:5349?transport=tcp")",
             [](const std::vector<std::string>& urls, const Complain& complain) {
               for (const auto& u : urls)
                 if (!(u.starts_with("turn:") || u.starts_with("turns:")) || u.size() < 7 ||
                     std::any_of(u.begin(), u.end(), [](char c) {
                       return static_cast<unsigned char>(c) <= ' ' || c == '"' || c == 0x7f;
                     }))
                   complain(fmt::format("{} is not a turn: or turns: URL (STUN is not used)", toml_string(u)));
             }),
      option("relay_addresses", &S::relay_addresses, string_list(),
             "coturn's relay addresses (relay-ip, external-ip); relay candidates naming others are dropped. "
             "Empty: the IP addresses in turn_urls",
             [](const std::vector<std::string>& addrs, const Complain& complain) {
               for (const auto& a : addrs)
                 if (!proto::canonical_ip(a)) complain(fmt::format("\"{}\" is not an IP address", a));
             }),
      option("turn_secret_file", &S::turn_secret_file, path(),
             "coturn's static-auth-secret (use-auth-secret), created 0600 with a random secret on first start"),
      option("turn_admin", &S::turn_admin, address(),
             "coturn's admin CLI (cli-ip:cli-port): a call's allocations are cancelled there when it ends"),
      option("turn_admin_password_file", &S::turn_admin_password_file, path(),
             "coturn's cli-password in plain text, created 0600 with a random password on first start"),
      option("ring_timeout", &S::ring_timeout, duration(), "an unanswered call ends no_answer after this"),
      option("turn_admin_timeout", &S::turn_admin_timeout, duration(),
             "one exchange with coturn's CLI may take this long"),
  };
  s.table.check = [](const S& m, TableReader& r) {
    if (m.ring_timeout.count() < 1000) r.table_error("calls.ring_timeout", "must be at least 1s");
    if (m.turn_admin_timeout.count() == 0) r.table_error("calls.turn_admin_timeout", "must be above 0s");
    if (m.enabled && m.turn_urls.empty()) r.table_error("calls", "enabled = true needs at least one URL in turn_urls");
  };
  return s;
}

Section<Config::Phone> phone_section() {
  using S = Config::Phone;
  Section<S> s{.name = "phone", .member = &Config::phone};
  s.intro =
      "# Phone calls to the proxy numbers of [sms], through Kamailio and rtpengine;\n"
      "# see docs/kamailio.cfg and README \"Phone calls\". Off by default.\n";
  s.table.options = {
      option("enabled", &S::enabled, boolean(), "true: a call to a session's proxy number rings its talent; needs [sms]"),
      option("listen", &S::listen, address(),
             "the seam: Kamailio asks GET /v1/phone/inbound, /outbound and /event here (plain HTTP, loopback)"),
      option("allow_plaintext", &S::allow_plaintext, boolean(),
             "listening on a non-loopback address (Kamailio on another host of a private network) needs this"),
      option("header_timeout", &S::header_timeout, deadline(), "as admin.header_timeout, for the seam"),
      option("body_timeout", &S::body_timeout, deadline(), "as admin.body_timeout, for the seam"),
      option("max_header_bytes", &S::max_header_bytes, integer<std::size_t>(1024, 1 << 20),
             "as admin.max_header_bytes, for the seam"),
      option("seam_secret_file", &S::seam_secret_file, path(),
             "the seam's bearer secret (Kamailio's http_client sends it), created 0600 on first start"),
      option("kamailio_rpc", &S::kamailio_rpc, address(),
             "Kamailio's JSON-RPC over HTTP (xhttp + jsonrpcs): the session's end hangs its call up there"),
      option("rpc_timeout", &S::rpc_timeout, duration(), "one JSON-RPC request may take this long"),
      option("ring_timeout", &S::ring_timeout, duration(),
             "a phone call not answered by then is hung up (after Kamailio's own timer)"),
      option("reconcile_interval", &S::reconcile_interval, duration(),
             "while calls are up, Kamailio is asked this often which it still has; a call it lost track of ends"),
      option("sip_ws_urls", &S::sip_ws_urls, string_list(),
             R"(where talents' consoles reach Kamailio, e.g. ["wss://sip.example.com:8443"]; empty: no SIP accounts)",
             [](const std::vector<std::string>& urls, const Complain& complain) {
               for (const auto& u : urls)
                 if (!(u.starts_with("wss://") || u.starts_with("ws://")) || u.size() < 8 ||
                     u.find_first_of(" \t\r\n\"") != std::string::npos)
                   complain(fmt::format("\"{}\" is not a ws:// or wss:// URL", u));
             }),
      option("sip_domain", &S::sip_domain, text(), "the talents' SIP domain, as Kamailio's SIP_DOMAIN",
             [](const std::string& d, const Complain& complain) {
               if (d.empty() || d.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-") != std::string::npos)
                 complain("must be a lower-case domain name");
             }),
      option("sip_secret_file", &S::sip_secret_file, path(),
             "Kamailio's auth_ephemeral secret: talents' SIP passwords are made from it; created 0600 on first start"),
      option("sip_credential_ttl", &S::sip_credential_ttl, duration(),
             "a talent's SIP password is valid this long from her login"),
  };
  s.table.check = [](const S& m, TableReader& r) {
    if (m.rpc_timeout.count() == 0) r.table_error("phone.rpc_timeout", "must be above 0s");
    if (m.ring_timeout.count() < 1000) r.table_error("phone.ring_timeout", "must be at least 1s");
    if (m.reconcile_interval.count() < 1000) r.table_error("phone.reconcile_interval", "must be at least 1s");
    if (m.sip_credential_ttl.count() < 60'000) r.table_error("phone.sip_credential_ttl", "must be at least 1m");
  };
  return s;
}

Section<Config::Log> log_section() {
  using S = Config::Log;
  Section<S> s{.name = "log", .member = &Config::log};
  s.reload = "SIGHUP: level; format at the next start";
  s.table.options = {
      option("level", &S::level,
             choice<std::string>(
                 {{"trace", "trace"}, {"debug", "debug"}, {"info", "info"}, {"warn", "warn"}, {"error", "error"}}),
             R"("trace", "debug", "info", "warn", "error"; no level ever logs numbers, tokens or texts)"),
      option("format", &S::format, choice<LogFormat>({{"text", LogFormat::text}, {"json", LogFormat::json}}),
             R"("text" or "json" (one object per line))"),
  };
  return s;
}

// The sections in the order they are read (and their problems reported)
// and shown in the example; [packages.*] comes after them.
const std::vector<AnySection>& sections() {
  static const std::vector<AnySection> all = {
      relay_section(),    admin_section(),  tls_section(), store_section(), keys_section(),
      sessions_section(), policy_section(), sms_section(), calls_section(), phone_section(), log_section(),
  };
  return all;
}

// What a [packages.NAME] table leaves unset.
Package new_package(std::string name) { return {std::move(name), {"chat"}, std::chrono::minutes(30), std::nullopt}; }

// The packages of a config without any [packages.*] table.
std::map<std::string, Package> default_packages() {
  auto chat_call = new_package("chat-call-60m");
  chat_call.channels = {"chat", "voice"};
  chat_call.duration = std::chrono::minutes(60);
  return {{"chat-30m", new_package("chat-30m")}, {"chat-call-60m", std::move(chat_call)}};
}

// The keys of a [packages.NAME] table.
const Table<Package>& package_table() {
  static const Table<Package> table = [] {
    Table<Package> t;
    t.options = {
        option("channels", &Package::channels, string_list(), R"("chat", or "chat" and "voice")"),
        option("duration", &Package::duration, duration(), "the session expires this long after booking"),
        option("max_messages", &Package::max_messages, quota(),
               "message quota for the session (both sides together); 0 means none"),
        option("kyc_required", &Package::kyc_required, boolean(),
               "true: only verified clients may book this package, at any hour"),
        option("idle_timeout", &Package::idle_timeout, duration(),
               R"(the session ends after this long without a message; "0s" means never)"),
        option("call_minutes", &Package::call_minutes, integer<std::int64_t>(0, 100000),
               "minutes of calls in the whole session (voice packages); 0: until the session ends"),
        option("first_contact", &Package::first_contact,
               choice<FirstContact>({{"either", FirstContact::either}, {"client", FirstContact::client}}),
               R"("client": the talent can neither write nor call until the client has)"),
    };
    t.check = [](const Package& p, TableReader& r) {
      for (const auto& ch : p.channels)
        if (ch != "chat" && ch != "voice") r.error("channels", R"(channels are "chat" and "voice")");
      if (p.duration.count() == 0) r.error("duration", "must be longer than 0s");
    };
    return t;
  }();
  return table;
}

// [packages.NAME] tables, one per package; without any, default_packages().
void read_packages(const toml::table& root, Config& c, Errors& errors) {
  const auto* node = root.get("packages");
  if (!node) {
    c.packages = default_packages();
    return;
  }
  const auto* t = node->as_table();
  if (!t) {
    errors.push_back(fmt::format("packages (line {}): must be a table", node->source().begin.line));
    return;
  }
  for (const auto& [name, v] : *t) {
    const std::string key = fmt::format("packages.{}", name.str());
    const auto* pt = v.as_table();
    if (!pt) {
      errors.push_back(fmt::format("{} (line {}): must be a table", key, v.source().begin.line));
      continue;
    }
    if (!proto::valid_alias(name.str()))
      errors.push_back(fmt::format("{} (line {}): package names are 2-32 of [a-z0-9_-]", key, v.source().begin.line));
    Package p = new_package(std::string(name.str()));
    TableReader r(*pt, key + ".", errors);
    package_table().read(r, p);
    c.packages.emplace(p.name, std::move(p));
  }
}

// The hosts of `urls` when every one is an IP literal (a relay candidate
// must then name one of them); empty when any is a name.
std::vector<std::string> turn_url_addresses(const std::vector<std::string>& urls) {
  std::vector<std::string> out;
  for (std::string_view u : urls) {
    u.remove_prefix(u.find(':') + 1);
    u = u.substr(0, u.find('?'));
    std::string_view host = u;
    if (u.starts_with('[')) host = u.substr(1, u.find(']') - 1);
    else if (u.find(':') != std::string_view::npos) host = u.substr(0, u.rfind(':'));
    auto ip = proto::canonical_ip(host);
    if (!ip) return {};
    if (std::find(out.begin(), out.end(), *ip) == out.end()) out.push_back(std::move(*ip));
  }
  return out;
}

// The files tiraid keeps itself (created on first start): beside the
// config by default, in the state folder of a packaged install.
std::vector<std::filesystem::path*> kept_files(Config& c) {
  return {&c.admin.token_file, &c.store.path, &c.keys.master_key_file, &c.calls.turn_secret_file,
          &c.calls.turn_admin_password_file, &c.phone.seam_secret_file, &c.phone.sip_secret_file};
}

}  // namespace

Config parse_config(std::string_view text, const std::filesystem::path& base_dir) {
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error& e) {
    throw ConfigError(fmt::format("config (line {}, column {}): {}", e.source().begin.line,
                                  e.source().begin.column, e.description()));
  }
  Config c;
  Errors errors;
  for (const auto& [k, v] : root) {
    const std::string_view key = k.str();  // a lambda may not capture a structured binding in clang 14
    const auto known = [key](const AnySection& s) { return s.name == key; };
    if (k.str() != "packages" && std::none_of(sections().begin(), sections().end(), known))
      errors.push_back(fmt::format("{} (line {}): unknown section", k.str(), v.source().begin.line));
  }
  for (const auto& s : sections()) {
    const auto* node = root.get(s.name);
    if (!node) continue;
    if (const auto* t = node->as_table()) {
      TableReader r(*t, fmt::format("{}.", s.name), errors);
      s.read(r, c);
    } else {
      errors.push_back(fmt::format("{} (line {}): must be a table", s.name, node->source().begin.line));
    }
  }
  read_packages(root, c, errors);
  if (c.relay.public_url.empty() && (c.relay.listen.host == "0.0.0.0" || c.relay.listen.host == "::"))
    errors.push_back(fmt::format("relay.public_url: must be set when relay.listen ({}) is every address: session "
                                 "links need the name clients reach this port by",
                                 c.relay.listen.str()));
  if (c.phone.enabled && !c.sms.enabled)
    errors.push_back("phone: enabled = true needs [sms] enabled: calls come to its proxy numbers");

  if (!errors.empty()) {
    std::string msg = "invalid configuration:";
    for (const auto& e : errors) msg += "\n  " + e;
    throw ConfigError(msg);
  }
  if (!c.relay.public_url.empty()) c.relay.public_url = *parse_origin(c.relay.public_url);
  for (auto& a : c.calls.relay_addresses) a = *proto::canonical_ip(a);
  if (c.calls.relay_addresses.empty()) c.calls.relay_addresses = turn_url_addresses(c.calls.turn_urls);
  for (auto* p : {&c.tls.cert, &c.tls.key, &c.relay.web_root})
    if (!p->empty() && p->is_relative()) *p = base_dir / *p;
  for (auto* p : kept_files(c))
    if (!p->empty() && p->is_relative()) *p = base_dir / *p;
  return c;
}

Config load_config(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw ConfigError(fmt::format("config file {} cannot be read", file.string()));
  std::stringstream ss;
  ss << in.rdbuf();
  const auto dir = std::filesystem::absolute(file).parent_path();
  return parse_config(ss.str(), dir);
}

std::string example_config(const std::filesystem::path& state_dir) {
  std::string out =
      "# tirai relay configuration. Every key is shown with its default.\n"
      "# Durations: \"500ms\", \"90s\", \"30m\", \"2h\", \"30d\". Addresses: \"host:port\".\n"
      "# Relative paths are relative to this file's folder.\n";
  Config defaults;
  if (!state_dir.empty())
    for (auto* p : kept_files(defaults)) *p = state_dir / *p;
  for (const auto& s : sections()) {
    out += '\n';
    s.write(defaults, true, out);
  }
  out +=
      "\n# One table per package that can be booked. Without any [packages.*] table,\n"
      "# the two below are the defaults.\n";
  bool first = true;
  for (const auto& [name, p] : default_packages()) {
    out += fmt::format("{}[packages.{}]\n", first ? "" : "\n", name);
    package_table().write(p, first, "", out);
    first = false;
  }
  return out;
}

std::string effective_config(const Config& c) {
  std::string out;
  for (const auto& s : sections()) {
    if (!out.empty()) out += '\n';
    s.write(c, false, out);
  }
  for (const auto& [name, p] : c.packages) {
    out += fmt::format("\n[packages.{}]\n", name);
    package_table().write(p, false, "", out);
  }
  // An empty [packages] table is no package at all, not the defaults that
  // no table gives (found by tests/fuzz/config.cpp).
  if (c.packages.empty()) out += "\n[packages]  # none: no session can be booked\n";
  return out;
}

std::vector<ConfigSectionDoc> config_reference() {
  std::vector<ConfigSectionDoc> out;
  const Config defaults;
  for (const auto& s : sections()) out.push_back(s.doc(defaults));
  ConfigSectionDoc packages{"packages.NAME", "", "SIGHUP: every package; a running session keeps the one it was booked with",
                            {}};
  const Package fresh = new_package("NAME");
  for (const auto& o : package_table().options) packages.keys.push_back({std::string(o.key), o.write(fresh), std::string(o.help)});
  out.push_back(std::move(packages));
  return out;
}

}  // namespace tirai::relay
