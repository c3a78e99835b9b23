#pragma once
#include "proto/wipe.hpp"
#include "store/synchronous.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tirai::relay {

using Millis = std::chrono::milliseconds;

// A start-up configuration problem; the message names the key (and line).
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Address {
  std::string host;
  std::uint16_t port{};
  std::string str() const;
};

// Who may make the first move in a session: anyone, or only the client (the
// talent can neither write nor call until the client has).
enum class FirstContact { either, client };

struct Package {
  std::string name;
  std::vector<std::string> channels;
  Millis duration{};
  std::optional<std::int64_t> max_messages;
  bool kyc_required = false;  // the client must be verified, at any hour
  Millis idle_timeout{0};     // 0: none; else the session ends after this long without a message
  std::int64_t call_minutes = 0;  // minutes of calls in the whole session; 0: until the session ends
  FirstContact first_contact = FirstContact::either;
  bool has(std::string_view channel) const {
    for (const auto& c : channels)
      if (c == channel) return true;
    return false;
  }
};

enum class ContactGuard { redact, block, off };
enum class ClientAliasMode { per_session, per_pair };

// A daily window in local minutes since midnight; may wrap past midnight.
struct DailyWindow {
  int start = 0;
  int end = 0;
  bool contains(int minute_of_day) const {
    return start <= end ? (minute_of_day >= start && minute_of_day < end)
                        : (minute_of_day >= start || minute_of_day < end);
  }
};

// What keeps talents safe (design §7 [policy]); reloaded on SIGHUP.
struct Policy {
  ContactGuard contact_guard = ContactGuard::redact;
  std::optional<DailyWindow> kyc_required_hours;
  std::string timezone = "UTC";  // IANA name, for kyc_required_hours
  double restrict_below_rating = 0;  // 0: no automatic restriction
  int restrict_min_ratings = 3;
  Millis rating_window = std::chrono::hours(24);
  // How long a rating counts (and is kept): long enough to warn the next
  // talents, not forever.
  Millis rating_retention = std::chrono::hours(24 * 180);
  int messages_per_minute = 60;        // per sender per session; 0: no limit
  int login_attempts_per_minute = 10;  // failed hellos per alias and per source address; 0: no limit
};

enum class LogFormat { text, json };
enum class NumberSelection { sticky, avoid_sticky };

// An http:// URL split for a client: host, port and the path (with any query).
struct HttpUrl {
  std::string host;
  std::uint16_t port = 80;
  std::string target = "/";
};
// Parses "http://host[:port][/path]"; nullopt for anything else (https included).
std::optional<HttpUrl> parse_http_url(std::string_view s);

// An http:// or https:// origin, optionally with a trailing '/', in the form
// a browser sends it in Origin: lower case, no default port. nullopt when `s`
// has a path, a query, user info or no host.
std::optional<std::string> parse_origin(std::string_view s);

// Proxy numbers through Kannel (design §9). Off unless `enabled`. The
// inbound secret and the sendsms password are wiped with every copy.
struct SmsConfig {
  SmsConfig() = default;
  SmsConfig(const SmsConfig&) = default;
  SmsConfig(SmsConfig&&) = default;
  SmsConfig& operator=(const SmsConfig&) = default;
  SmsConfig& operator=(SmsConfig&&) = default;
  ~SmsConfig() {
    proto::wipe(inbound_secret);
    proto::wipe(password);
  }

  bool enabled = false;
  Address listen{"127.0.0.1", 8082};  // Kannel's sms-service calls GET /v1/sms/kannel here
  bool allow_plaintext = false;       // the listener is plain HTTP: non-loopback needs this
  std::string inbound_secret;         // the `secret` Kannel's get-url carries; 16+ characters
  std::string sendsms_url_text = "http://127.0.0.1:13013/cgi-bin/sendsms";
  HttpUrl sendsms_url{"127.0.0.1", 13013, "/cgi-bin/sendsms"};
  std::string username;  // Kannel sendsms-user
  std::string password;
  std::vector<std::string> proxy_numbers;  // E.164
  NumberSelection number_selection = NumberSelection::sticky;
  std::string country_code;  // digits; set to accept national "0…" numbers from the gateway
  std::size_t max_text_chars = 1600;
  std::vector<std::string> stop_words = {"STOP", "BERHENTI"};
  std::string out_of_session_reply =
      "Nomor ini tidak sedang dalam sesi. / This number is not in an open session.";
  Millis out_of_session_interval = std::chrono::hours(1);
  std::string expiry_notice =
      "Sesi Anda berakhir dalam {minutes} menit. / Your session ends in {minutes} minutes.";
  std::string ended_notice = "Sesi ini telah berakhir, terima kasih. / This session has ended, thank you.";
  // The session link texted at booking when asked for ("send_link"); {link} is replaced by it.
  std::string link_notice = "Sesi Anda sudah siap / Your session is ready: {link}";
  std::string blocked_notice =
      "Pesan tidak terkirim: kontak pribadi tidak diizinkan. / Not sent: contact details are not allowed.";
  Millis retry_min = std::chrono::seconds(1);
  Millis retry_max = std::chrono::minutes(5);
  Millis request_timeout = std::chrono::seconds(10);
  // The inbound listener's deadlines against slow clients (HttpDeadlines).
  Millis header_timeout = std::chrono::seconds(30);
  Millis body_timeout = std::chrono::seconds(30);
  std::size_t max_header_bytes = 16384;
};

// The whole configuration, parsed once and validated (design §7). Relative
// paths are resolved against the config file's folder.
struct Config {
  struct Relay {
    Address listen{"127.0.0.1", 8080};
    std::size_t max_frame_bytes = 16384;
    std::size_t max_text_chars = 4096;
    std::size_t max_connections = 50000;
    std::size_t max_outbound_frames = 1024;
    Millis idle_timeout = std::chrono::minutes(5);
    Millis hello_timeout = std::chrono::seconds(10);
    std::size_t max_header_bytes = 8192;  // an upgrade's or a page's request head
    bool allow_plaintext = false;  // without [tls], a non-loopback listener needs this
    // Connections that have not said hello yet, per source address (IPv6 per
    // /64); trusted proxies are exempt.
    std::size_t max_unauthenticated_per_address = 32;
    // Reverse proxies whose X-Forwarded-For / Forwarded name the client for
    // the login limits: addresses or networks. Empty: none.
    std::vector<std::string> trusted_proxies;
    // Where clients and talents reach this port, as an origin
    // ("https://chat.example.com"): session links, and the one Origin a
    // browser may open /v1/ws from. Empty: the address listened on.
    std::string public_url;
    // A folder to serve the web apps from instead of the copy built into
    // tiraid (development). Empty: the built-in copy.
    std::filesystem::path web_root;
    // How long a talent's resume ticket lets a reloaded console back in
    // without the secret (a client's lasts as long as the session).
    Millis resume_ttl = std::chrono::hours(12);
  } relay;
  struct Admin {
    Address listen{"127.0.0.1", 8081};
    std::filesystem::path token_file = "admin.token";
    bool allow_plaintext = false;
    // A request's head must arrive within header_timeout (of the accept or
    // the previous answer: also the idle limit of a kept-alive connection),
    // its body and the taking of its answer each within body_timeout.
    Millis header_timeout = std::chrono::seconds(30);
    Millis body_timeout = std::chrono::seconds(30);
    std::size_t max_header_bytes = 16384;  // a request's head; more is 413
  } admin;
  // Set: both listeners speak TLS 1.2+ only (wss://, https://).
  struct Tls {
    std::filesystem::path cert;  // PEM certificate chain
    std::filesystem::path key;   // PEM private key
    bool enabled() const { return !cert.empty(); }
  } tls;
  struct Store {
    std::filesystem::path path = "tirai.db";
    store::Synchronous synchronous = store::Synchronous::normal;
  } store;
  struct Keys {
    std::filesystem::path master_key_file = "master.key";
  } keys;
  struct Sessions {
    Millis warn_before = std::chrono::minutes(5);
    Millis grace = std::chrono::seconds(60);
    Millis retention = std::chrono::hours(24 * 30);
    ClientAliasMode client_alias = ClientAliasMode::per_session;
  } sessions;
  Policy policy;
  std::map<std::string, Package> packages;
  SmsConfig sms;
  // Voice calls through the operator's coturn (design §11). Off unless
  // `enabled`.
  struct Calls {
    bool enabled = false;
    // The TURN server as both sides reach it: "turn:HOST:3478?transport=udp",
    // "turns:HOST:5349?transport=tcp", ... (TURN only: no STUN).
    std::vector<std::string> turn_urls;
    // The addresses coturn relays from (its relay-ip / external-ip), as IP
    // literals: a relay candidate naming any other address is dropped.
    // Empty: the IP literals among turn_urls' hosts; with names there, any.
    std::vector<std::string> relay_addresses;
    // coturn's static-auth-secret; created with a random secret on first start.
    std::filesystem::path turn_secret_file = "turn.secret";
    // coturn's admin CLI (cli-ip:cli-port), where a call's allocations are cancelled.
    Address turn_admin{"127.0.0.1", 5766};
    // Its cli-password, in plain text; created on first start.
    std::filesystem::path turn_admin_password_file = "turn-admin.password";
    Millis ring_timeout = std::chrono::seconds(45);
    Millis turn_admin_timeout = std::chrono::seconds(5);
  } calls;
  // Phone calls through the proxy numbers (design §13): Kamailio asks the
  // seam about every call; the pool is [sms]'s.
  struct Phone {
    bool enabled = false;
    Address listen{"127.0.0.1", 8083};  // the seam: GET /v1/phone/... from Kamailio's http_client
    bool allow_plaintext = false;       // the seam is plain HTTP: non-loopback needs this
    Millis header_timeout = std::chrono::seconds(30);  // as admin's
    Millis body_timeout = std::chrono::seconds(30);
    std::size_t max_header_bytes = 16384;
    // The seam's bearer secret; created with a random secret on first start.
    std::filesystem::path seam_secret_file = "phone-seam.secret";
    // Kamailio's JSON-RPC over HTTP (xhttp + jsonrpcs), where calls are hung up.
    Address kamailio_rpc{"127.0.0.1", 5071};
    Millis rpc_timeout = std::chrono::seconds(5);
    // A phone call no one answers ends after this (Kamailio's own timer
    // normally ends it first).
    Millis ring_timeout = std::chrono::seconds(60);
    // While calls are up, this often tiraid asks Kamailio which dialogs it
    // still has: a call whose end was never reported (the report lost) ends
    // here too, rather than holding its session busy.
    Millis reconcile_interval = std::chrono::minutes(1);
    // Where the talents' consoles reach Kamailio over SIP-over-WebSocket:
    // "wss://sip.example.com:8443". Empty: the consoles get no SIP account
    // (calls into proxy numbers then reach only phones registered otherwise).
    std::vector<std::string> sip_ws_urls;
    std::string sip_domain = "tirai.invalid";  // the talents' SIP domain (Kamailio's SIP_DOMAIN)
    // Kamailio's auth_ephemeral secret; created with a random secret on first start.
    std::filesystem::path sip_secret_file = "sip.secret";
    Millis sip_credential_ttl = std::chrono::hours(12);
  } phone;
  struct Log {
    std::string level = "info";
    LogFormat format = LogFormat::text;
  } log;
};

// Parses and validates a TOML config file. Throws ConfigError listing every
// problem found (unknown keys, wrong types, bad durations or addresses), each
// naming its key and line.
Config load_config(const std::filesystem::path& file);
Config parse_config(std::string_view toml_text, const std::filesystem::path& base_dir);

// Parses "500ms", "90s", "30m", "2h", "30d"; nullopt otherwise.
std::optional<Millis> parse_duration(std::string_view s);
// Parses "22:00-06:00"; nullopt otherwise.
std::optional<DailyWindow> parse_daily_window(std::string_view s);
// Parses "host:port" or "[v6]:port"; nullopt otherwise.
std::optional<Address> parse_address(std::string_view s);
std::string format_duration(Millis d);

// The shipped example: every key with its default and a one-line
// explanation. With `state_dir`, the files tiraid keeps (database, keys,
// token, secrets) are named by absolute paths in that folder, as a packaged
// config under /etc keeps them in /var/lib/tirai.
std::string example_config(const std::filesystem::path& state_dir = {});

// The settings `c` holds, as a config file (every key; secrets as "[secret]").
std::string effective_config(const Config& c);

// Every key of a section, for the manual: its default as the example
// writes it, and its help.
struct ConfigKeyDoc {
  std::string key, default_value, help;
};
struct ConfigSectionDoc {
  std::string name, intro, reload;
  std::vector<ConfigKeyDoc> keys;
};
// The sections, then one "packages.NAME" section (the keys of a package,
// with a new package's defaults).
std::vector<ConfigSectionDoc> config_reference();

}  // namespace tirai::relay
