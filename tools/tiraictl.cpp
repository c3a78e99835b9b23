// tiraictl: the operator's CLI over tiraid's admin API. A thin main over
// tools/client and the relay's config parser.
#include "proto/sms.hpp"
#include "relay/config/config.hpp"
#include "store/backup.hpp"
#include "tools/client.hpp"

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>

namespace json = boost::json;
using tirai::client::AdminClient;
using tirai::client::HttpResponse;

namespace {

struct Options {
  std::string config = [] {
    const char* env = std::getenv("TIRAI_CONFIG");
    return std::string(env && *env ? env : "/etc/tirai/tiraid.toml");
  }();
  bool json_out = false;
  std::string cacert;  // CA file for a self-signed certificate when [tls] is set
};

class Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string str(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_null()) return "-";
  return json::serialize(v);
}

void print_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(headers.size());
  for (std::size_t i = 0; i < headers.size(); ++i) width[i] = headers[i].size();
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t i = 0; i < cells.size(); ++i)
      out += fmt::format("{:<{}}{}", cells[i], width[i], i + 1 < cells.size() ? "  " : "");
    while (!out.empty() && out.back() == ' ') out.pop_back();
    std::cout << out << "\n";
  };
  line(headers);
  for (const auto& r : rows) line(r);
  if (rows.empty()) std::cout << "(none)\n";
}

// One path segment of an API URL: an alias or id the operator typed must
// stay one segment ("bob?x" is not "bob", "a/../b" is not "b").
std::string segment(std::string_view s) { return tirai::proto::url_encode(s); }

// Reads the secret without echo from a terminal, or one line from a pipe.
std::string read_secret() {
  std::string secret;
  if (::isatty(STDIN_FILENO)) {
    std::cerr << "secret for the talent (not shown): " << std::flush;
    termios old{};
    ::tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= static_cast<tcflag_t>(~ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    std::getline(std::cin, secret);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::cerr << "\n";
  } else {
    std::getline(std::cin, secret);
  }
  return secret;
}

std::string trimmed(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

// A client's real number never comes from argv unless the operator says so:
// argv is readable by every local user (ps, /proc/PID/cmdline) and lands in
// shell history and audit logs. `argv_number` is what was given as an
// argument (--client or NUMBER), empty when nothing was. Otherwise the number
// is typed at a "client number: " prompt (echoed: it is not kept from the
// operator, only from the record) or read from standard input, one number on
// one line. Throws Failure with what to do instead.
std::string read_client_number(const std::string& argv_number, bool from_argv) {
  if (from_argv) {
    if (argv_number.empty()) throw Failure("--number-from-argv needs the client's number as an argument");
    return argv_number;
  }
  if (!argv_number.empty())
    throw Failure(
        "a client's number on the command line is visible to every user of this machine (ps, /proc) and stays in "
        "shell history and audit logs; leave it out and type it at the prompt or give it on standard input (one "
        "number per line), or add --number-from-argv to accept that risk");
  std::string line;
  if (::isatty(STDIN_FILENO)) std::cerr << "client number: " << std::flush;
  std::getline(std::cin, line);
  std::string number = trimmed(line);
  if (number.empty())
    throw Failure("no client number on standard input (one number per line, E.164 such as +6281234567890)");
  if (!::isatty(STDIN_FILENO)) {
    // One command acts on one client: a list piped in by mistake must not
    // have its first number erased and the rest silently ignored.
    std::string rest;
    while (std::getline(std::cin, line)) rest += trimmed(line);
    if (!rest.empty()) throw Failure("standard input holds more than one line: give one client number per command");
  }
  return number;
}

class Ctl {
 public:
  explicit Ctl(const Options& o) : opts_(o) {}

  // Calls the API; returns the parsed body or throws Failure with a message
  // an operator can act on.
  json::value call(std::string_view method, const std::string& target, const json::value& body = nullptr) {
    auto& api = client();
    HttpResponse res;
    try {
      res = api.request(method, target, body.is_null() ? std::string() : json::serialize(body));
    } catch (const tirai::client::ClientError& e) {
      throw Failure(fmt::format("cannot reach tiraid's admin API at {} (is tiraid running?): {}", address_, e.what()));
    }
    json::value v;
    if (!res.body.empty()) {
      json::error_code ec;
      v = json::parse(res.body, ec);
      if (ec) throw Failure(fmt::format("the admin API answered {} with a body that is not JSON", res.status));
    }
    if (res.status == 401)
      throw Failure(fmt::format("the admin token was refused; check admin.token_file in {}", opts_.config));
    if (res.status >= 400) {
      const auto& o = v.is_object() ? v.as_object() : json::object{};
      throw Failure(fmt::format("{} ({})", o.contains("message") ? str(o.at("message")) : "request failed",
                                o.contains("error") ? str(o.at("error")) : std::to_string(res.status)));
    }
    return v;
  }

  void emit(const json::value& v, const std::function<void()>& human) {
    if (opts_.json_out) std::cout << json::serialize(v) << "\n";
    else human();
  }

 private:
  AdminClient& client() {
    if (!client_) {
      tirai::relay::Config cfg;
      try {
        cfg = tirai::relay::load_config(opts_.config);
      } catch (const std::exception& e) {
        throw Failure(fmt::format("{} (set --config or TIRAI_CONFIG)", e.what()));
      }
      std::string token;
      try {
        std::ifstream in(cfg.admin.token_file);
        std::getline(in, token);
      } catch (...) {
      }
      if (token.empty())
        throw Failure(fmt::format("cannot read the admin token from {} (run tiraictl as the operator's account)",
                                  cfg.admin.token_file.string()));
      std::string host = cfg.admin.listen.host;
      if (host == "0.0.0.0") host = "127.0.0.1";
      if (host == "::") host = "::1";
      tirai::client::Tls tls{cfg.tls.enabled(), opts_.cacert};
      address_ = fmt::format("{}://{}", tls.enabled ? "https" : "http", cfg.admin.listen.str());
      client_.emplace(host, cfg.admin.listen.port, token, std::chrono::seconds(10), tls);
    }
    return *client_;
  }

  const Options& opts_;
  std::optional<AdminClient> client_;
  std::string address_;
};

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  CLI::App app{"tiraictl: operate a tirai relay through its admin API"};
  app.require_subcommand(1);
  app.add_option("-c,--config", opts.config, "tiraid's config file (default $TIRAI_CONFIG or /etc/tirai/tiraid.toml)");
  app.add_flag("--json", opts.json_out, "print the API's JSON instead of tables");
  app.add_option("--cacert", opts.cacert, "CA certificate to trust for https (e.g. a self-signed tls.cert)");

  auto* talent = app.add_subcommand("talent", "enrol, list and remove talents");
  talent->require_subcommand(1);
  std::string alias;
  auto* talent_add = talent->add_subcommand("add", "enrol a talent; the secret is read from the terminal or stdin");
  talent_add->add_option("alias", alias, "the talent's alias")->required();
  auto* talent_list = talent->add_subcommand("list", "list talents");
  auto* talent_remove = talent->add_subcommand("remove", "end a talent's sessions and erase them");
  talent_remove->add_option("alias", alias, "the talent's alias")->required();

  auto* session = app.add_subcommand("session", "book, list, show and end sessions");
  session->require_subcommand(1);
  std::string talent_alias, client_number_arg, package, state, id;  // client_number_arg: only with --number-from-argv
  auto* open = session->add_subcommand("open", "book a session for a client who has paid");
  open->add_option("--talent", talent_alias, "talent alias")->required();
  bool number_from_argv = false;
  constexpr const char* number_from_argv_help =
      "UNSAFE: take the client's number from the command line, where every local user can see it (ps, /proc) "
      "and shell history keeps it; without it the number is read from the terminal or standard input";
  open->add_option("--client", client_number_arg,
                   "UNSAFE, only with --number-from-argv: the client's real number (by default read from stdin)");
  open->add_flag("--number-from-argv", number_from_argv, number_from_argv_help);
  open->add_option("--package", package, "package name (see tiraictl packages)")->required();
  std::optional<bool> sms;
  open->add_flag("--sms,!--no-sms", sms,
                 "give the client a proxy number to text (default: when [sms] is enabled); --no-sms: the link only");
  bool send_link = false;
  open->add_flag("--send-link", send_link,
                 "text the session link to the client from their proxy number (needs [sms] enabled)");
  auto* list = session->add_subcommand("list", "list sessions (no real numbers)");
  list->add_option("--state", state, "open, active, closing or closed");
  auto* show = session->add_subcommand("show", "show one session");
  show->add_option("id", id, "session id")->required();
  auto* end = session->add_subcommand("end", "end a session (ended_by_operator)");
  end->add_option("id", id, "session id")->required();

  auto* client = app.add_subcommand("client", "act on a client by their real number (read from the terminal or stdin)");
  client->require_subcommand(1);
  auto* client_erase = client->add_subcommand("erase", "end the client's sessions and erase everything about them");
  client_erase->add_option("number", client_number_arg, "UNSAFE, only with --number-from-argv: the client's real number");
  auto* client_lookup = client->add_subcommand("lookup", "show whether the client is verified or restricted, and their rating");
  client_lookup->add_option("number", client_number_arg, "UNSAFE, only with --number-from-argv: the client's real number");
  std::string method;
  auto* client_verify = client->add_subcommand("verify", "record that the client's identity was checked (no documents are stored)");
  client_verify->add_option("number", client_number_arg, "UNSAFE, only with --number-from-argv: the client's real number");
  client_verify->add_option("--method", method, "how, e.g. ktp_selfie")->required();
  bool release = false;
  auto* client_restrict = client->add_subcommand("restrict", "refuse the client new bookings (or --release them)");
  client_restrict->add_option("number", client_number_arg, "UNSAFE, only with --number-from-argv: the client's real number");
  client_restrict->add_flag("--release", release, "release the client instead, overriding the rating rule");
  for (auto* c : {client_erase, client_lookup, client_verify, client_restrict})
    c->add_flag("--number-from-argv", number_from_argv, number_from_argv_help);

  auto* packages = app.add_subcommand("packages", "list the packages that can be booked");
  auto* health = app.add_subcommand("health", "check that tiraid answers");
  std::string backup_path;
  auto* backup = app.add_subcommand(
      "backup", "copy the database while tiraid runs, into a new file (0600); the master key is never in it");
  backup->add_option("path", backup_path, "the new file")->required();
  CLI11_PARSE(app, argc, argv);

  Ctl ctl(opts);
  auto client_number_given = [&] { return read_client_number(client_number_arg, number_from_argv); };
  try {
    if (*backup) {
      // Read straight from the database file, beside the running relay (WAL
      // lets it write on): no admin call, so nothing of it crosses a socket.
      tirai::relay::Config cfg;
      try {
        cfg = tirai::relay::load_config(opts.config);
      } catch (const std::exception& e) {
        throw Failure(fmt::format("{} (set --config or TIRAI_CONFIG)", e.what()));
      }
      ::umask(077);
      const auto r = tirai::store::backup_database(cfg.store.path, backup_path);
      if (opts.json_out)
        std::cout << json::serialize(json::object{{"path", backup_path}, {"bytes", r.bytes}, {"pages", r.pages},
                                                  {"schema_version", r.schema_version}})
                  << "\n";
      else
        std::cout << fmt::format(
            "backup of {} written to {} ({} KiB, schema {}). It is sealed as the database is; the master key ({}) is "
            "not in it: keep a copy of that key apart from the backups.\n",
            cfg.store.path.string(), backup_path, (r.bytes + 1023) / 1024, r.schema_version,
            cfg.keys.master_key_file.string());
      return 0;
    }
    if (*talent_add) {
      const auto secret = read_secret();
      auto v = ctl.call("POST", "/v1/talents", json::object{{"alias", alias}, {"secret", secret}});
      ctl.emit(v, [&] { std::cout << "talent " << alias << " enrolled\n"; });
    } else if (*talent_list) {
      auto v = ctl.call("GET", "/v1/talents");
      ctl.emit(v, [&] {
        std::vector<std::vector<std::string>> rows;
        for (const auto& t : v.at("talents").as_array()) {
          const auto& o = t.as_object();
          rows.push_back({str(o.at("alias")), str(o.at("status")), o.at("online").as_bool() ? "yes" : "no",
                          str(o.at("open_sessions")), str(o.at("created_at"))});
        }
        print_table({"ALIAS", "STATUS", "ONLINE", "OPEN SESSIONS", "ENROLLED"}, rows);
      });
    } else if (*talent_remove) {
      ctl.call("DELETE", "/v1/talents/" + segment(alias));
      ctl.emit(json::object{{"removed", alias}}, [&] { std::cout << "talent " << alias << " removed and erased\n"; });
    } else if (*open) {
      json::object req{{"talent", talent_alias}, {"client", client_number_given()}, {"package", package}};
      if (sms) req["sms"] = *sms;
      if (send_link) req["send_link"] = true;
      auto v = ctl.call("POST", "/v1/sessions", req);
      ctl.emit(v, [&] {
        const auto& o = v.as_object();
        std::cout << "session       " << str(o.at("session")) << "\n"
                  << "client alias  " << str(o.at("client_alias")) << "\n"
                  << "expires at    " << str(o.at("expires_at")) << "\n";
        if (o.contains("proxy_number"))
          std::cout << "proxy number  " << str(o.at("proxy_number")) << "  (the client texts this number)\n";
        if (o.contains("client_link"))
          std::cout << "client link   " << str(o.at("client_link")) << "\n";
        std::cout << "client token  " << str(o.at("client_token")) << "\n";
        if (o.contains("link_sent") && o.at("link_sent").as_bool())
          std::cout << "(the link is being texted to the client from the proxy number)\n";
        else if (o.contains("link_sent"))
          std::cout << "(the link could NOT be texted: give it to the client now; it is shown once and never stored)\n";
        else
          std::cout << "(give the link to the client now: it is shown once and never stored)\n";
      });
    } else if (*list) {
      auto v = ctl.call("GET", state.empty() ? "/v1/sessions" : "/v1/sessions?state=" + segment(state));
      ctl.emit(v, [&] {
        std::vector<std::vector<std::string>> rows;
        for (const auto& s : v.at("sessions").as_array()) {
          const auto& o = s.as_object();
          rows.push_back({str(o.at("session")), str(o.at("talent")),
                          o.contains("client_alias") ? str(o.at("client_alias")) : "-",
                          o.contains("proxy_number") ? str(o.at("proxy_number")) : "-", str(o.at("package")),
                          str(o.at("state")), o.contains("close_reason") ? str(o.at("close_reason")) : "-",
                          str(o.at("messages")), str(o.at("expires_at"))});
        }
        print_table({"SESSION", "TALENT", "CLIENT", "PROXY", "PACKAGE", "STATE", "REASON", "MESSAGES", "EXPIRES"},
                    rows);
      });
    } else if (*show) {
      auto v = ctl.call("GET", "/v1/sessions/" + segment(id));
      ctl.emit(v, [&] {
        for (const auto& [k, val] : v.as_object()) std::cout << fmt::format("{:<14}{}\n", std::string(k), str(val));
      });
    } else if (*end) {
      ctl.call("POST", "/v1/sessions/" + segment(id) + "/end");
      ctl.emit(json::object{{"ending", id}}, [&] { std::cout << "session " << id << " is ending (ended_by_operator)\n"; });
    } else if (*client_erase) {
      ctl.call("POST", "/v1/clients/erase", json::object{{"client", client_number_given()}});
      ctl.emit(json::object{{"status", "erased"}},
               [&] { std::cout << "client erased (their live sessions ended; nothing about them is kept)\n"; });
    } else if (*client_lookup) {
      auto v = ctl.call("POST", "/v1/clients/lookup", json::object{{"client", client_number_given()}});
      ctl.emit(v, [&] {
        const auto& o = v.as_object();
        const auto& rating = o.at("rating").as_object();
        std::cout << "verified    " << (o.at("verified").as_bool() ? "yes" : "no");
        if (o.contains("verify_method"))
          std::cout << " (" << str(o.at("verify_method")) << ", " << str(o.at("verified_at")) << ")";
        std::cout << "\nrestricted  " << (o.at("restricted").as_bool() ? "yes" : "no") << "\n"
                  << "rating      "
                  << (rating.at("average").is_null() ? std::string("none")
                                                     : fmt::format("{:.2f} from {} ratings", rating.at("average").to_number<double>(),
                                                                   str(rating.at("count"))))
                  << "\nsessions    " << str(o.at("sessions")) << "\n";
      });
    } else if (*client_verify) {
      ctl.call("POST", "/v1/clients/verify", json::object{{"client", client_number_given()}, {"method", method}});
      ctl.emit(json::object{{"status", "ok"}}, [&] { std::cout << "client marked verified (" << method << ")\n"; });
    } else if (*client_restrict) {
      ctl.call("POST", "/v1/clients/restrict", json::object{{"client", client_number_given()}, {"restricted", !release}});
      ctl.emit(json::object{{"status", "ok"}},
               [&] { std::cout << (release ? "client released by hand\n" : "client restricted by hand\n"); });
    } else if (*packages) {
      auto v = ctl.call("GET", "/v1/packages");
      ctl.emit(v, [&] {
        std::vector<std::vector<std::string>> rows;
        for (const auto& p : v.at("packages").as_array()) {
          const auto& o = p.as_object();
          std::string channels;
          for (const auto& c : o.at("channels").as_array()) channels += (channels.empty() ? "" : "+") + str(c);
          rows.push_back({str(o.at("name")), channels, str(o.at("duration")),
                          o.at("max_messages").is_null() ? "unlimited" : str(o.at("max_messages")),
                          o.at("idle_timeout").is_null() ? "-" : str(o.at("idle_timeout")),
                          o.at("kyc_required").as_bool() ? "yes" : "no"});
        }
        print_table({"PACKAGE", "CHANNELS", "DURATION", "MAX MESSAGES", "IDLE TIMEOUT", "KYC"}, rows);
      });
    } else if (*health) {
      auto v = ctl.call("GET", "/v1/health");
      ctl.emit(v, [&] { std::cout << "tiraid is " << str(v.at("status")) << "\n"; });
    }
  } catch (const Failure& e) {
    std::cerr << "tiraictl: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "tiraictl: unexpected answer: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
