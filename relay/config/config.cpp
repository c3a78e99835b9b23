#include "relay/config/config.hpp"

#include "proto/identifiers.hpp"
#include "proto/utf8.hpp"
#include "relay/config/network.hpp"

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
    if (e1 != std::errc{} || e2 != std::errc{} || p1 != t.data() + 2 || p2 != t.data() + 5 || h > 23 || m > 59)
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

namespace {

// Walks one table, reading the keys it knows and reporting the rest. Every
// problem is collected, so one start reports all of them.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string prefix, std::vector<std::string>& errors)
      : table_(table), prefix_(std::move(prefix)), errors_(errors) {}

  ~TableReader() {
    for (const auto& [k, v] : table_)
      if (!seen_.count(std::string(k.str())))
        error(std::string(k.str()), v, "unknown key");
  }

  void string(std::string_view key, std::string& out) {
    if (const auto* n = get(key)) {
      if (auto v = n->value<std::string>()) out = *v;
      else error(key, *n, "must be a string");
    }
  }

  void number(std::string_view key, double& out, double min, double max) {
    if (const auto* n = get(key)) {
      std::optional<double> v = n->value<double>();
      if (!v || !(n->is_floating_point() || n->is_integer())) error(key, *n, "must be a number");
      else if (*v < min || *v > max) error(key, *n, fmt::format("must be between {} and {}", min, max));
      else out = *v;
    }
  }

  void boolean(std::string_view key, bool& out) {
    if (const auto* n = get(key)) {
      if (auto v = n->value_exact<bool>()) out = *v;
      else error(key, *n, "must be true or false");
    }
  }

  void path(std::string_view key, std::filesystem::path& out) {
    std::string s;
    if (!get(key)) return;
    string(key, s);
    if (!s.empty()) out = s;
  }

  template <typename T>
  void integer(std::string_view key, T& out, std::int64_t min, std::int64_t max) {
    if (const auto* n = get(key)) {
      const auto v = n->value_exact<std::int64_t>();
      if (!v) error(key, *n, "must be an integer");
      else if (*v < min || *v > max) error(key, *n, fmt::format("must be between {} and {}", min, max));
      else out = static_cast<T>(*v);
    }
  }

  void duration(std::string_view key, Millis& out) {
    if (const auto* n = get(key)) {
      const auto s = n->value<std::string>();
      std::optional<Millis> d = s ? parse_duration(*s) : std::nullopt;
      if (!d) error(key, *n, "must be a duration string such as \"500ms\", \"90s\", \"30m\", \"2h\" or \"30d\"");
      else out = *d;
    }
  }

  void address(std::string_view key, Address& out) {
    if (const auto* n = get(key)) {
      const auto s = n->value<std::string>();
      std::optional<Address> a = s ? parse_address(*s) : std::nullopt;
      if (!a) error(key, *n, "must be an address \"host:port\"");
      else out = *a;
    }
  }

  template <typename E>
  void choice(std::string_view key, E& out, std::initializer_list<std::pair<std::string_view, E>> options) {
    if (const auto* n = get(key)) {
      const auto s = n->value<std::string>();
      std::string names;
      for (const auto& [name, value] : options) {
        if (s && *s == name) {
          out = value;
          return;
        }
        names += fmt::format("{}\"{}\"", names.empty() ? "" : ", ", name);
      }
      error(key, *n, fmt::format("must be one of {}", names));
    }
  }

  void string_list(std::string_view key, std::vector<std::string>& out) {
    if (const auto* n = get(key)) {
      const auto* arr = n->as_array();
      std::vector<std::string> v;
      bool ok = arr != nullptr;
      if (arr)
        for (const auto& e : *arr) {
          if (auto s = e.value<std::string>()) v.push_back(*s);
          else ok = false;
        }
      if (!ok) error(key, *n, "must be an array of strings");
      else out = std::move(v);
    }
  }

  const toml::node* get(std::string_view key) {
    seen_.insert(std::string(key));
    return table_.get(key);
  }

  void error(std::string_view key, const toml::node& n, std::string_view what) {
    errors_.push_back(fmt::format("{}{} (line {}): {}", prefix_, key, n.source().begin.line, what));
  }

 private:
  const toml::table& table_;
  std::string prefix_;
  std::vector<std::string>& errors_;
  std::set<std::string> seen_;
};

std::map<std::string, Package> default_packages() {
  using namespace std::chrono;
  return {
      {"chat-30m", {"chat-30m", {"chat"}, minutes(30), std::nullopt}},
      {"chat-call-60m", {"chat-call-60m", {"chat", "voice"}, minutes(60), std::nullopt}},
  };
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
  std::vector<std::string> errors;
  auto section = [&](std::string_view name, auto&& read) {
    const auto* node = root.get(name);
    if (!node) return;
    if (const auto* t = node->as_table()) {
      TableReader r(*t, fmt::format("{}.", name), errors);
      read(r);
    } else {
      errors.push_back(fmt::format("{} (line {}): must be a table", name, node->source().begin.line));
    }
  };
  const std::set<std::string_view> sections = {"relay", "admin", "tls",      "store", "keys",
                                               "sessions", "packages", "policy", "sms",   "log"};
  for (const auto& [k, v] : root)
    if (!sections.count(k.str()))
      errors.push_back(fmt::format("{} (line {}): unknown section", k.str(), v.source().begin.line));

  section("relay", [&](TableReader& r) {
    r.address("listen", c.relay.listen);
    r.integer("max_frame_bytes", c.relay.max_frame_bytes, 256, 16 << 20);
    r.integer("max_text_chars", c.relay.max_text_chars, 1, 1 << 20);
    r.integer("max_connections", c.relay.max_connections, 1, 10'000'000);
    r.integer("max_outbound_frames", c.relay.max_outbound_frames, 16, 1 << 20);
    r.duration("idle_timeout", c.relay.idle_timeout);
    r.duration("hello_timeout", c.relay.hello_timeout);
    r.boolean("allow_plaintext", c.relay.allow_plaintext);
    r.integer("max_unauthenticated_per_address", c.relay.max_unauthenticated_per_address, 1, 1'000'000);
    if (const auto* n = r.get("trusted_proxies")) {
      r.string_list("trusted_proxies", c.relay.trusted_proxies);
      std::string why;
      if (!parse_networks(c.relay.trusted_proxies, why)) r.error("trusted_proxies", *n, why);
    }
  });
  section("admin", [&](TableReader& r) {
    r.address("listen", c.admin.listen);
    r.path("token_file", c.admin.token_file);
    r.boolean("allow_plaintext", c.admin.allow_plaintext);
  });
  section("tls", [&](TableReader& r) {
    r.path("cert", c.tls.cert);
    r.path("key", c.tls.key);
    if (c.tls.cert.empty() != c.tls.key.empty())
      errors.push_back(fmt::format("tls (line {}): set both cert and key, or neither", root.get("tls")->source().begin.line));
  });
  section("store", [&](TableReader& r) {
    r.path("path", c.store.path);
    r.choice("synchronous", c.store.synchronous,
             {{"normal", store::Synchronous::normal}, {"full", store::Synchronous::full}});
  });
  section("keys", [&](TableReader& r) { r.path("master_key_file", c.keys.master_key_file); });
  section("sessions", [&](TableReader& r) {
    r.duration("warn_before", c.sessions.warn_before);
    r.duration("grace", c.sessions.grace);
    r.duration("retention", c.sessions.retention);
    r.choice("client_alias", c.sessions.client_alias,
             {{"per_session", ClientAliasMode::per_session}, {"per_pair", ClientAliasMode::per_pair}});
  });
  section("policy", [&](TableReader& r) {
    auto& p = c.policy;
    r.choice("contact_guard", p.contact_guard,
             {{"redact", ContactGuard::redact}, {"block", ContactGuard::block}, {"off", ContactGuard::off}});
    if (const auto* n = r.get("kyc_required_hours")) {
      const auto s = n->value<std::string>();
      if (s && s->empty()) p.kyc_required_hours.reset();
      else if (auto w = s ? parse_daily_window(*s) : std::nullopt) p.kyc_required_hours = w;
      else r.error("kyc_required_hours", *n, "must be \"HH:MM-HH:MM\" (or \"\" for never)");
    }
    if (const auto* n = r.get("timezone")) {
      const auto s = n->value<std::string>();
      const bool known = s && (*s == "UTC" || (s->find("..") == std::string::npos && !s->empty() && s->front() != '/' &&
                                                std::filesystem::is_regular_file("/usr/share/zoneinfo/" + *s)));
      if (!known) r.error("timezone", *n, "must be an IANA time zone such as \"Asia/Jakarta\" (or \"UTC\")");
      else p.timezone = *s;
    }
    r.number("restrict_below_rating", p.restrict_below_rating, 0, 5);
    r.integer("restrict_min_ratings", p.restrict_min_ratings, 1, 1000);
    r.duration("rating_window", p.rating_window);
    if (const auto* n = r.get("rating_retention")) {
      r.duration("rating_retention", p.rating_retention);
      if (p.rating_retention.count() == 0) r.error("rating_retention", *n, "must be longer than 0s");
    }
    r.integer("messages_per_minute", p.messages_per_minute, 0, 100000);
    r.integer("login_attempts_per_minute", p.login_attempts_per_minute, 0, 100000);
  });
  section("sms", [&](TableReader& r) {
    auto& m = c.sms;
    r.boolean("enabled", m.enabled);
    if (const auto* n = r.get("gateway")) {
      if (n->value<std::string>() != "kannel") r.error("gateway", *n, "must be \"kannel\" (the only gateway so far)");
    }
    r.address("listen", m.listen);
    r.boolean("allow_plaintext", m.allow_plaintext);
    r.string("inbound_secret", m.inbound_secret);
    if (const auto* n = r.get("sendsms_url")) {
      const auto s = n->value<std::string>();
      auto url = s ? parse_http_url(*s) : std::nullopt;
      if (s && s->starts_with("http://") && s->substr(0, s->find_first_of("/?", 7)).find('@') != std::string::npos)
        r.error("sendsms_url", *n, "must not carry user:password@ (Kannel's credentials go in sms.username and sms.password)");
      else if (!url) r.error("sendsms_url", *n, "must be an http:// URL such as \"http://127.0.0.1:13013/cgi-bin/sendsms\"");
      else {
        m.sendsms_url = *url;
        m.sendsms_url_text = *s;
      }
    }
    r.string("username", m.username);
    r.string("password", m.password);
    if (const auto* n = r.get("proxy_numbers")) {
      r.string_list("proxy_numbers", m.proxy_numbers);
      std::set<std::string> seen;
      for (const auto& number : m.proxy_numbers) {
        if (!proto::valid_e164(number)) r.error("proxy_numbers", *n, fmt::format("\"{}\" is not E.164 ('+' and 8-15 digits)", number));
        else if (!seen.insert(number).second) r.error("proxy_numbers", *n, fmt::format("\"{}\" is listed twice", number));
      }
    }
    r.choice("number_selection", m.number_selection,
             {{"sticky", NumberSelection::sticky}, {"avoid_sticky", NumberSelection::avoid_sticky}});
    if (const auto* n = r.get("country_code")) {
      r.string("country_code", m.country_code);
      const bool digits = std::all_of(m.country_code.begin(), m.country_code.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
      if (!digits || m.country_code.size() > 3 || m.country_code.starts_with("0"))
        r.error("country_code", *n, "must be 1-3 digits without a leading 0, e.g. \"62\" (or \"\" for none)");
    }
    r.integer("max_text_chars", m.max_text_chars, 1, 100000);
    if (const auto* n = r.get("stop_words")) {
      r.string_list("stop_words", m.stop_words);
      for (const auto& w : m.stop_words)
        if (w.empty() || w.find_first_of(" \t\r\n") != std::string::npos || !proto::valid_utf8(w))
          r.error("stop_words", *n, "stop words are single words");
    }
    r.string("out_of_session_reply", m.out_of_session_reply);
    r.duration("out_of_session_interval", m.out_of_session_interval);
    r.string("expiry_notice", m.expiry_notice);
    r.string("ended_notice", m.ended_notice);
    r.string("blocked_notice", m.blocked_notice);
    r.duration("retry_min", m.retry_min);
    r.duration("retry_max", m.retry_max);
    r.duration("request_timeout", m.request_timeout);
    if (m.retry_min.count() == 0 || m.retry_max < m.retry_min)
      errors.push_back(fmt::format("sms.retry_min (line {}): must be above 0s and at most sms.retry_max",
                                   root.get("sms")->source().begin.line));
    if (m.enabled) {
      const auto line = root.get("sms")->source().begin.line;
      auto need = [&](bool ok, std::string_view what) {
        if (!ok) errors.push_back(fmt::format("sms (line {}): enabled = true needs {}", line, what));
      };
      need(proto::utf8_length(m.inbound_secret).value_or(0) >= 16, "inbound_secret of at least 16 characters");
      need(!m.proxy_numbers.empty(), "at least one number in proxy_numbers");
      need(!m.username.empty() && !m.password.empty(), "username and password of Kannel's sendsms-user");
    }
  });
  section("log", [&](TableReader& r) {
    r.choice("level", c.log.level,
             {{"trace", std::string("trace")}, {"debug", std::string("debug")}, {"info", std::string("info")},
              {"warn", std::string("warn")}, {"error", std::string("error")}});
    r.choice("format", c.log.format, {{"text", LogFormat::text}, {"json", LogFormat::json}});
  });

  if (const auto* node = root.get("packages")) {
    if (const auto* t = node->as_table()) {
      for (const auto& [name, v] : *t) {
        const auto* pt = v.as_table();
        const std::string key = fmt::format("packages.{}", name.str());
        if (!pt) {
          errors.push_back(fmt::format("{} (line {}): must be a table", key, v.source().begin.line));
          continue;
        }
        if (!proto::valid_alias(name.str()))
          errors.push_back(fmt::format("{} (line {}): package names are 2-32 of [a-z0-9_-]", key,
                                       v.source().begin.line));
        Package p{std::string(name.str()), {"chat"}, std::chrono::minutes(30), std::nullopt};
        TableReader r(*pt, key + ".", errors);
        r.string_list("channels", p.channels);
        r.duration("duration", p.duration);
        std::int64_t max = 0;
        r.integer("max_messages", max, 0, 1'000'000'000);
        if (max > 0) p.max_messages = max;
        r.boolean("kyc_required", p.kyc_required);
        r.duration("idle_timeout", p.idle_timeout);
        for (const auto& ch : p.channels)
          if (ch != "chat" && ch != "voice")
            r.error("channels", *pt->get("channels"), "channels are \"chat\" and \"voice\"");
        if (p.duration.count() == 0) r.error("duration", *pt->get("duration"), "must be longer than 0s");
        c.packages.emplace(p.name, std::move(p));
      }
    } else {
      errors.push_back(fmt::format("packages (line {}): must be a table", node->source().begin.line));
    }
  } else {
    c.packages = default_packages();
  }

  if (!errors.empty()) {
    std::string msg = "invalid configuration:";
    for (const auto& e : errors) msg += "\n  " + e;
    throw ConfigError(msg);
  }
  for (auto* p : {&c.admin.token_file, &c.store.path, &c.keys.master_key_file, &c.tls.cert, &c.tls.key})
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

std::string_view example_config() {
  return R"toml(# tirai relay configuration. Every key is shown with its default.
# Durations: "500ms", "90s", "30m", "2h", "30d". Addresses: "host:port".
# Relative paths are relative to this file's folder.

[relay]
listen = "127.0.0.1:8080"        # WebSocket listener for talents and clients (/v1/ws)
max_frame_bytes = 16384          # a larger frame closes the connection with 1009
max_text_chars = 4096            # longest message text, in characters (too_large past it)
max_connections = 50000          # further connections are refused until some close
max_outbound_frames = 1024       # frames queued behind a socket that stopped taking bytes before the peer is disconnected (it replays on reconnect)
idle_timeout = "5m"              # a connection that answers no ping for this long is closed
hello_timeout = "10s"            # a connection must say hello within this time
allow_plaintext = false          # without [tls], listening on a non-loopback address needs this (and logs a warning)
max_unauthenticated_per_address = 32  # connections not yet past hello, per source address (IPv6: per /64); more are closed at once
trusted_proxies = []             # your reverse proxies, e.g. ["127.0.0.1", "10.0.0.0/8"]: their X-Forwarded-For / Forwarded name the client for the login limits

[admin]
listen = "127.0.0.1:8081"        # admin HTTP API; keep it on loopback
token_file = "admin.token"       # bearer token for the admin API, created 0600 on first start
allow_plaintext = false          # as relay.allow_plaintext, for the admin listener

# With cert and key set, the relay serves wss:// and the admin API https://,
# TLS 1.2 and 1.3 with forward-secret AEAD ciphers only. Unset by default.
# [tls]
# cert = "tls/cert.pem"          # PEM certificate chain
# key = "tls/key.pem"            # PEM private key

[store]
path = "tirai.db"                # SQLite database (WAL mode), created 0600 on first start
synchronous = "normal"           # "normal": survives a crash of tiraid; "full": also a power cut, slower

[keys]
master_key_file = "master.key"   # 32 random bytes, created 0600 on first start; wider permissions are refused

[sessions]
warn_before = "5m"               # both sides get an "expiring" notice this long before the end
grace = "60s"                    # after a session is ended, both may still write farewells this long; "0s" closes at once
retention = "30d"                # minimal records of closed sessions are purged after this
client_alias = "per_session"     # "per_session": a new client alias every booking; "per_pair": stable per client and talent

# One table per package that can be booked. Without any [packages.*] table,
# the two below are the defaults.
[packages.chat-30m]
channels = ["chat"]              # "chat", or "chat" and "voice"
duration = "30m"                 # the session expires this long after booking
max_messages = 0                 # message quota for the session (both sides together); 0 means none
kyc_required = false             # true: only verified clients may book this package, at any hour
idle_timeout = "0s"              # the session ends after this long without a message; "0s" means never

[packages.chat-call-60m]
channels = ["chat", "voice"]
duration = "60m"
max_messages = 0
kyc_required = false
idle_timeout = "0s"

[policy]
contact_guard = "redact"         # phone numbers, e-mail, @handles, WA/Telegram/IG/LINE links: "redact" to [hidden], "block", or "off"
kyc_required_hours = ""          # e.g. "22:00-06:00": unverified clients cannot be booked in this local window; "" means never
timezone = "UTC"                 # IANA time zone of kyc_required_hours, e.g. "Asia/Jakarta"
restrict_below_rating = 0        # clients whose average rating falls below this are refused bookings; 0 turns it off
restrict_min_ratings = 3         # ...once they have at least this many ratings
rating_window = "24h"            # a talent may rate the client while closing and this long after the session closed
rating_retention = "180d"        # a rating counts towards the client's standing, and is kept, this long; then it is deleted
messages_per_minute = 60         # per sender per session; more gets rate_limited (nothing is lost); 0 means no limit
login_attempts_per_minute = 10   # failed hellos per source address (then rate_limited) and per alias (then failures answer slowly); a right secret is never refused; 0 means no limit

# Proxy numbers: clients text a pool number through Kannel (bearerbox +
# smsbox); see docs/kannel.conf and README "SMS through Kannel". Off by default.
[sms]
enabled = false
gateway = "kannel"               # the only gateway so far
listen = "127.0.0.1:8082"        # Kannel's sms-service calls GET /v1/sms/kannel here (plain HTTP)
allow_plaintext = false          # listening on a non-loopback address needs this
inbound_secret = ""              # 16+ characters; Kannel's get-url carries it as secret=...; required when enabled
sendsms_url = "http://127.0.0.1:13013/cgi-bin/sendsms"  # Kannel smsbox sendsms interface (http:// only)
username = ""                    # Kannel sendsms-user username; required when enabled
password = ""                    # ...and its password
proxy_numbers = []               # the pool, E.164, e.g. ["+6281100000001", "+6281100000002"]; required when enabled
number_selection = "sticky"      # "sticky": reuse the number of the client's last session with that talent when free; "avoid_sticky": pick another
country_code = ""                # e.g. "62": national numbers "0812..." from the gateway become "+62812..."; "" refuses them
max_text_chars = 1600            # longest inbound SMS text (after concatenation); longer gets 413
stop_words = ["STOP", "BERHENTI"]  # an SMS that is just one of these (any case) ends the session (ended_by_client)
out_of_session_reply = "Nomor ini tidak sedang dalam sesi. / This number is not in an open session."  # "" sends none
out_of_session_interval = "1h"   # at most one out-of-session reply per sender and proxy number in this time
expiry_notice = "Sesi Anda berakhir dalam {minutes} menit. / Your session ends in {minutes} minutes."  # "" sends none
ended_notice = "Sesi ini telah berakhir, terima kasih. / This session has ended, thank you."  # "" sends none
blocked_notice = "Pesan tidak terkirim: kontak pribadi tidak diizinkan. / Not sent: contact details are not allowed."
retry_min = "1s"                 # first retry when Kannel is down or refuses; doubles each time...
retry_max = "5m"                 # ...up to this
request_timeout = "10s"          # one sendsms request may take this long

[log]
level = "info"                   # "trace", "debug", "info", "warn", "error"; no level ever logs numbers, tokens or texts
format = "text"                  # "text" or "json" (one object per line)
)toml";
}

}  // namespace tirai::relay
