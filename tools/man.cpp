// tirai-man: writes tiraid.toml(5) from the config's own option table (the
// keys, defaults and help that the parser and the example config use), so
// that the manual cannot drift from what tiraid reads. Run at build time
// (target tirai_man): tirai-man OUT_FILE.
#include "relay/config/config.hpp"
#include "relay/version.hpp"

#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

namespace {

// Text as roff reads it: backslashes and minus signs escaped, no line
// starting with a control character.
std::string roff(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
    if (c == '\n') out += "\\&";
  }
  return (out.starts_with('.') || out.starts_with('\'')) ? "\\&" + out : out;
}

// A section's intro as the example shows it ("# " lines), as one paragraph.
std::string intro_text(std::string_view intro) {
  std::string out;
  while (!intro.empty()) {
    auto line = intro.substr(0, intro.find('\n'));
    intro.remove_prefix(std::min(intro.size(), line.size() + 1));
    if (line.starts_with("# ")) line.remove_prefix(2);
    else if (line.starts_with('#')) line.remove_prefix(1);
    if (!out.empty()) out += ' ';
    out += line;
  }
  return out;
}

constexpr std::string_view head = R"(.SH NAME
tiraid.toml \- configuration of the tirai relay daemon
.SH SYNOPSIS
.I /etc/tirai/tiraid.toml
.SH DESCRIPTION
.BR tiraid (8)
reads one TOML file, given by
.BR \-\-config .
Every key is optional; what a key does not say is its default, shown below.
Durations are strings such as "500ms", "90s", "30m", "2h" or "30d";
addresses are "host:port" or "[v6]:port". Relative paths are relative to
the folder of the file (the packaged file names /var/lib/tirai instead).
.PP
An unknown key or section, a wrong type, a bad duration or address stops
the start with a message naming each key and its line; so does
.BR "tiraid \-\-check\-config" ,
which prints the settings in effect with every secret as "[secret]".
.PP
On SIGHUP
.RB ( "systemctl reload tiraid" )
tiraid reads the file again and takes what can change while it runs: the
log level, [policy] and the [packages.*] tables (running sessions keep the
package they were booked with). Every other key is read at start only. A
file with a problem is refused as a whole, and the running settings stay.
.PP
tiraid refuses to start when the file can be read by others and holds
sms.inbound_secret or sms.password.
.SH SECTIONS
)";

constexpr std::string_view tail = R"(.SH FILES
.TP
.I /etc/tirai/tiraid.toml
this file (mode 0640, root:tirai in the package).
.TP
.I /var/lib/tirai/
the database, the master key, the admin token and the secrets tiraid makes
on its first start, each mode 0600.
.SH EXAMPLE
.B tiraid \-\-print\-example\-config
prints a complete file with every key, its default and a line of help.
.SH SEE ALSO
.BR tiraid (8),
.BR tiraictl (8),
and /usr/share/doc/tirai/ (README.md, the example configs of Kannel, coturn,
Kamailio and rtpengine).
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: tirai-man OUT_FILE\n";
    return 2;
  }
  std::string out = ".\\\" Made by tirai-man from the config's option table: edit relay/config/config.cpp, not this.\n";
  out += ".TH TIRAID.TOML 5 \"\" \"tirai " + std::string(tirai::relay::version) + "\" \"File Formats\"\n";
  out += head;
  for (const auto& s : tirai::relay::config_reference()) {
    out += ".SS [" + roff(s.name) + "]\n";
    if (const auto text = intro_text(s.intro); !text.empty()) out += roff(text) + "\n.PP\n";
    out += "Reload: " + roff(s.reload) + ".\n";
    for (const auto& k : s.keys) {
      out += ".TP\n.B " + roff(k.key) + "\n";
      if (!k.help.empty()) out += roff(k.help) + "\n.br\n";
      out += "Default: " + roff(k.default_value) + "\n";
    }
  }
  out += tail;
  std::ofstream file(argv[1]);
  file << out;
  return file ? 0 : 1;
}
