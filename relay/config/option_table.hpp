#pragma once
// How config.cpp describes the config file: each section is one Table of
// Options (key, how its value is read, checked and written back, help),
// and both the parser and the example config are made from the tables. The
// defaults are the typed structs' own (config.hpp): the example shows a
// default-constructed Config. Internal to tirai_config: it includes toml++.
#include "relay/config/config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace tirai::relay::options {

// Every problem of one parse, so that one start reports all of them.
using Errors = std::vector<std::string>;

// One TOML table being read. A problem is named by its key in full
// ("relay.listen", "packages.chat.duration") and its line.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string prefix, Errors& errors)
      : table_(table), prefix_(std::move(prefix)), errors_(errors) {}

  const toml::table& table() const { return table_; }
  // "<prefix><key> (line N): <what>", N the line of `at`.
  void error(std::string_view key, const toml::node& at, std::string_view what) {
    errors_.push_back(fmt::format("{}{} (line {}): {}", prefix_, key, at.source().begin.line, what));
  }
  // As error(), at `key`'s own line; `key` must be in the table.
  void error(std::string_view key, std::string_view what) { error(key, *table_.get(key), what); }
  // "<label> (line N): <what>", N the line of the table's header: for a
  // problem of several keys together.
  void table_error(std::string_view label, std::string_view what) {
    errors_.push_back(fmt::format("{} (line {}): {}", label, table_.source().begin.line, what));
  }

 private:
  const toml::table& table_;
  std::string prefix_;
  Errors& errors_;
};

// How a value of type T is read from its TOML node and written back as
// TOML. `read` sets `out`, or leaves it alone and returns false with `why`
// in the words the docs and tests quote.
template <typename T>
struct Kind {
  std::function<bool(const toml::node& node, T& out, std::string& why)> read;
  std::function<std::string(const T&)> write;
};

// One key of a section, read into the section's struct S.
template <typename S>
struct Option {
  std::string_view key;
  std::function<void(TableReader&, const toml::node&, S&)> read;
  std::function<std::string(const S&)> write;
  std::string_view help;  // the example's comment after the key; empty: none
};

using Complain = std::function<void(std::string_view what)>;

// The usual option: `key` read into `member` as `kind`. `check`, when
// given, may complain about a value that was read, once per problem.
template <typename S, typename T>
Option<S> option(std::string_view key, T S::*member, Kind<T> kind, std::string_view help,
                 std::type_identity_t<std::function<void(const T&, const Complain&)>> check = {}) {
  return {key,
          [key, member, read = kind.read, check](TableReader& r, const toml::node& n, S& s) {
            std::string why;
            if (!read(n, s.*member, why)) return r.error(key, n, why);
            if (check) check(s.*member, [&](std::string_view what) { r.error(key, n, what); });
          },
          [member, write = kind.write](const S& s) { return write(s.*member); }, help};
}

// Where the help comments start in the example, for keys short enough.
inline constexpr std::size_t help_column = 33;

template <typename S>
struct Table {
  std::vector<Option<S>> options = {};
  // Problems of several keys together, once all of them were read.
  std::function<void(const S&, TableReader&)> check = {};

  // Reads the keys present, then checks, then reports the keys it does not know.
  void read(TableReader& r, S& s) const {
    std::set<std::string_view> known;
    for (const auto& o : options) {
      known.insert(o.key);
      if (const auto* n = r.table().get(o.key)) o.read(r, *n, s);
    }
    if (check) check(s, r);
    for (const auto& [k, v] : r.table())
      if (!known.count(k.str())) r.error(k.str(), v, "unknown key");
  }

  // A "key = value" line per option, each line starting with `prefix`.
  void write(const S& s, bool with_help, std::string_view prefix, std::string& out) const {
    for (const auto& o : options) {
      std::string line = fmt::format("{}{} = {}", prefix, o.key, o.write(s));
      if (with_help && !o.help.empty()) {
        line.append(line.size() + 2 <= help_column ? help_column - line.size() : 2, ' ');
        line += "# ";
        line += o.help;
      }
      out += line;
      out += '\n';
    }
  }
};

// A [name] section of the config file, read into Config's `member`.
template <typename S>
struct Section {
  std::string_view name;
  S Config::*member;
  Table<S> table = {};
  std::string_view intro = {};  // the example's comment lines above the section
  // Set: the example shows these values, commented out, instead of the
  // defaults (a section that is off unless configured).
  std::optional<S> example = {};
  // What a SIGHUP does to the section's keys, for the manual (daemon.cpp's
  // Daemon::reload is what does it).
  std::string_view reload = "read at start only: a change needs a restart";
};

// A Section of any struct, so that all of them fit in one list.
struct AnySection {
  std::string_view name;
  std::function<void(TableReader&, Config&)> read;
  // The section as the example shows it (`example` true: intro, help, and
  // the Section's example values when it has them) or as values in effect.
  std::function<void(const Config& values, bool example, std::string& out)> write;
  std::function<ConfigSectionDoc(const Config& defaults)> doc;

  template <typename S>
  AnySection(Section<S> s)  // NOLINT: implicit, so that a list of Sections converts
      : name(s.name),
        read([s](TableReader& r, Config& c) { s.table.read(r, c.*s.member); }),
        write([s](const Config& values, bool example, std::string& out) {
          if (!example) {
            out += fmt::format("[{}]\n", s.name);
            return s.table.write(values.*s.member, false, "", out);
          }
          out += s.intro;
          const std::string_view prefix = s.example ? "# " : "";
          out += fmt::format("{}[{}]\n", prefix, s.name);
          s.table.write(s.example ? *s.example : values.*s.member, true, prefix, out);
        }),
        doc([s](const Config& defaults) {
          ConfigSectionDoc d{std::string(s.name), std::string(s.intro), std::string(s.reload), {}};
          for (const auto& o : s.table.options)
            d.keys.push_back({std::string(o.key), o.write(defaults.*s.member), std::string(o.help)});
          return d;
        }) {}
};

// A TOML basic string (of text without control characters: the defaults).
// A TOML basic string. Control characters are escaped: TOML forbids them
// raw, and a value read from "\u0000" must be written so that it reads back
// (found by tests/fuzz/config.cpp).
inline std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\u{:04X}", u);
    } else {
      out += c;
    }
  }
  return out + '"';
}

inline Kind<std::string> text() {
  return {[](const toml::node& n, std::string& out, std::string& why) {
            auto v = n.value<std::string>();
            if (!v) why = "must be a string";
            else out = std::move(*v);
            return v.has_value();
          },
          [](const std::string& s) { return toml_string(s); }};
}

// A secret (a password, a shared secret): written back as "[secret]" when
// set, so that a printed config never shows it.
inline Kind<std::string> secret_text() {
  auto kind = text();
  kind.write = [](const std::string& s) { return toml_string(s.empty() ? "" : "[secret]"); };
  return kind;
}

// An empty string keeps the default.
inline Kind<std::filesystem::path> path() {
  return {[](const toml::node& n, std::filesystem::path& out, std::string& why) {
            const auto v = n.value<std::string>();
            if (!v) why = "must be a string";
            else if (!v->empty()) out = *v;
            return v.has_value();
          },
          [](const std::filesystem::path& p) { return toml_string(p.string()); }};
}

inline Kind<bool> boolean() {
  return {[](const toml::node& n, bool& out, std::string& why) {
            const auto v = n.value_exact<bool>();
            if (!v) why = "must be true or false";
            else out = *v;
            return v.has_value();
          },
          [](bool b) { return std::string(b ? "true" : "false"); }};
}

template <typename T>
Kind<T> integer(std::int64_t min, std::int64_t max) {
  return {[min, max](const toml::node& n, T& out, std::string& why) {
            const auto v = n.value_exact<std::int64_t>();
            if (!v) why = "must be an integer";
            else if (*v < min || *v > max) why = fmt::format("must be between {} and {}", min, max);
            else out = static_cast<T>(*v);
            return why.empty();
          },
          [](const T& v) { return fmt::format("{}", v); }};
}

// An integer or a floating-point number.
inline Kind<double> number(double min, double max) {
  return {[min, max](const toml::node& n, double& out, std::string& why) {
            const std::optional<double> v = n.value<double>();
            if (!v || !(n.is_floating_point() || n.is_integer())) why = "must be a number";
            else if (*v < min || *v > max) why = fmt::format("must be between {} and {}", min, max);
            else out = *v;
            return why.empty();
          },
          [](double v) { return fmt::format("{}", v); }};
}

inline Kind<Millis> duration() {
  return {[](const toml::node& n, Millis& out, std::string& why) {
            const auto s = n.value<std::string>();
            const std::optional<Millis> d = s ? parse_duration(*s) : std::nullopt;
            if (!d) why = R"(must be a duration string such as "500ms", "90s", "30m", "2h" or "30d")";
            else out = *d;
            return d.has_value();
          },
          [](Millis d) { return toml_string(format_duration(d)); }};
}

// A duration of at least `least` (a deadline of 0 would close every
// connection at once).
inline Kind<Millis> duration_at_least(Millis least) {
  return {[least](const toml::node& n, Millis& out, std::string& why) {
            const auto s = n.value<std::string>();
            const std::optional<Millis> d = s ? parse_duration(*s) : std::nullopt;
            if (!d) why = R"(must be a duration string such as "500ms", "90s", "30m", "2h" or "30d")";
            else if (*d < least) why = "must be at least " + format_duration(least);
            else out = *d;
            return d && *d >= least;
          },
          [](Millis d) { return toml_string(format_duration(d)); }};
}

inline Kind<Address> address() {
  return {[](const toml::node& n, Address& out, std::string& why) {
            const auto s = n.value<std::string>();
            const std::optional<Address> a = s ? parse_address(*s) : std::nullopt;
            if (!a) why = R"(must be an address "host:port")";
            else out = *a;
            return a.has_value();
          },
          [](const Address& a) { return toml_string(a.str()); }};
}

inline Kind<std::vector<std::string>> string_list() {
  return {[](const toml::node& n, std::vector<std::string>& out, std::string& why) {
            const auto* arr = n.as_array();
            std::vector<std::string> v;
            bool ok = arr != nullptr;
            if (arr)
              for (const auto& e : *arr) {
                if (auto s = e.value<std::string>()) v.push_back(*s);
                else ok = false;
              }
            if (!ok) why = "must be an array of strings";
            else out = std::move(v);
            return ok;
          },
          [](const std::vector<std::string>& v) {
            std::string out = "[";
            for (const auto& s : v) out += (out.size() > 1 ? ", " : "") + toml_string(s);
            return out + "]";
          }};
}

// One of a few names, each standing for a value of T.
template <typename T>
Kind<T> choice(std::vector<std::pair<std::string_view, T>> names) {
  return {[names](const toml::node& n, T& out, std::string& why) {
            const auto s = n.value<std::string>();
            for (const auto& [name, value] : names)
              if (s && *s == name) {
                out = value;
                return true;
              }
            std::string list;
            for (const auto& [name, value] : names) list += fmt::format("{}\"{}\"", list.empty() ? "" : ", ", name);
            why = fmt::format("must be one of {}", list);
            return false;
          },
          [names](const T& v) {
            for (const auto& [name, value] : names)
              if (value == v) return toml_string(name);
            return std::string("\"\"");
          }};
}

}  // namespace tirai::relay::options
