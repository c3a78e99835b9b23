#include "tools/kannel_process.hpp"

#include "proto/sms.hpp"
#include "proto/utf8.hpp"

#include <fmt/format.h>

#include <fstream>
#include <random>
#include <regex>
#include <stdexcept>

namespace tirai::client {

namespace {

// The last lines a box said, for a failure message (its folder is removed with the test).
std::string tail_of(const LoggedProcess& p) {
  std::string out;
  auto lines = p.lines();
  for (std::size_t i = lines.size() > 15 ? lines.size() - 15 : 0; i < lines.size(); ++i) out += lines[i] + "\n";
  return out;
}

std::string random_word() {
  std::random_device rd;
  std::string s;
  for (int i = 0; i < 16; ++i) s += static_cast<char>('a' + rd() % 26);
  return s;
}

// fakesmsc's own line format: '+' for space, %XX for the rest.
std::string fake_encode(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (std::isalnum(c)) out += static_cast<char>(c);
    else if (c == ' ') out += '+';
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::string utf16be(std::string_view utf8) {
  std::string out;
  const std::u32string cps = proto::utf8_decode(utf8).value_or(U"");
  for (char32_t cp : cps) {
    auto unit = [&](char32_t u) {
      out += static_cast<char>(u >> 8);
      out += static_cast<char>(u & 0xFF);
    };
    if (cp >= 0x10000) {
      unit(0xD800 + ((cp - 0x10000) >> 10));
      unit(0xDC00 + ((cp - 0x10000) & 0x3FF));
    } else {
      unit(cp);
    }
  }
  return out;
}

}  // namespace

bool Kannel::installed() {
  return std::filesystem::exists(bearerbox) && std::filesystem::exists(smsbox) && std::filesystem::exists(fakesmsc);
}

Kannel::Kannel(std::filesystem::path dir, std::uint16_t tiraid_sms_port, std::string secret)
    : dir_(std::move(dir)),
      password_(random_word()),
      admin_port_(free_port()),
      smsbox_port_(free_port()),
      smsc_port_(free_port()),
      sendsms_port_(free_port()) {
  std::filesystem::create_directories(dir_);
  std::ofstream conf(dir_ / "kannel.conf");
  conf << fmt::format(R"(group = core
admin-port = {admin}
admin-password = {pw}
admin-allow-ip = "127.0.0.1"
smsbox-port = {smsbox}
box-allow-ip = "127.0.0.1"

group = smsc
smsc = fake
smsc-id = carrier
port = {smsc}
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {smsbox}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
mo-recode = true
http-request-retry = 10
http-queue-delay = 1

group = sendsms-user
username = {user}
password = {pw}
max-messages = 10
concatenation = true

group = sms-service
keyword = default
catch-all = true
max-messages = 0
get-url = "http://127.0.0.1:{sms}/v1/sms/kannel?from=%p&to=%P&text=%b&charset=%C&coding=%c&id=%I&secret={secret}"
)",
                      fmt::arg("admin", admin_port_), fmt::arg("pw", password_), fmt::arg("smsbox", smsbox_port_),
                      fmt::arg("smsc", smsc_port_), fmt::arg("sendsms", sendsms_port_), fmt::arg("user", username),
                      fmt::arg("sms", tiraid_sms_port), fmt::arg("secret", secret));
}

Kannel::~Kannel() {
  for (auto& f : fakes_) f->stop(SIGKILL);
  if (smsbox_) smsbox_->stop(SIGTERM);
  if (bearer_) bearer_->stop(SIGTERM);
}

void Kannel::start() {
  bearer_ = std::make_unique<LoggedProcess>(bearerbox, dir_ / "bearerbox.log");
  bearer_->start({"-v", "1", (dir_ / "kannel.conf").string()});
  if (!bearer_->wait_for_log("Start-up done"))
    throw std::runtime_error("bearerbox did not start:\n" + tail_of(*bearer_));
  start_smsbox();
  start_fakesmsc({}, 0, 1);
}

void Kannel::start_smsbox() {
  smsbox_ = std::make_unique<LoggedProcess>(smsbox, dir_ / "smsbox.log");
  smsbox_->start({"-v", "1", (dir_ / "kannel.conf").string()});
  if (!smsbox_->wait_for_log("Connected to bearerbox"))
    throw std::runtime_error("smsbox did not start:\n" + tail_of(*smsbox_));
}

void Kannel::stop_smsbox() {
  if (smsbox_) smsbox_->stop(SIGTERM);
}

void Kannel::start_fakesmsc(const std::vector<std::string>& messages, long count, double interval) {
  // SIGKILL: fakesmsc sometimes sleeps through SIGINT. What it received is already in its lines.
  if (!fakes_.empty()) fakes_.back()->stop(SIGKILL);
  const auto from = bearer_->log_lines();
  fakes_.push_back(std::make_unique<LoggedProcess>(fakesmsc, dir_ / "fakesmsc.log"));
  std::vector<std::string> args = {"-H", "127.0.0.1", "-r", std::to_string(smsc_port_), "-i", fmt::format("{}", interval),
                                   "-m", std::to_string(count)};
  if (messages.empty()) args.push_back("0 0 text nothing");  // fakesmsc wants a message; -m 0 sends none
  args.insert(args.end(), messages.begin(), messages.end());
  fakes_.back()->start(args);
  if (!bearer_->wait_for_log("Fakesmsc client connected", from))
    throw std::runtime_error("fakesmsc did not connect to bearerbox");
}

void Kannel::send(std::string_view from, std::string_view to, std::string_view text, bool ucs2) {
  const auto line = ucs2 ? fmt::format("{} {} ucs2 {}", from, to, fake_encode(utf16be(text)))
                         : fmt::format("{} {} text {}", from, to, text);
  start_fakesmsc({line}, 1, 0.01);
}

void Kannel::carrier_sends(const std::vector<std::string>& lines, long count, double interval) {
  start_fakesmsc(lines, count, interval);
}

std::vector<Mt> Kannel::mts() const {
  static const std::regex got(R"(Got message \d+: <(\S+) (\S+) (\S+) (.*)>$)");
  std::vector<Mt> out;
  for (const auto& f : fakes_)
    for (const auto& line : f->lines()) {
      std::smatch m;
      if (!std::regex_search(line, m, got)) continue;
      Mt mt{m[1], m[2], m[4], m[3]};
      if (mt.coding == "ucs-2") mt.text = proto::to_utf8(proto::url_decode(mt.text).value_or(""), "UTF-16BE").value_or("?");
      out.push_back(std::move(mt));
    }
  return out;
}

std::optional<Mt> Kannel::wait_mt(const std::function<bool(const Mt&)>& match, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto& live = *fakes_.back();
    const auto seen = live.log_lines();
    for (const auto& mt : mts())
      if (match(mt)) return mt;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    // Woken by fakesmsc's next line (or the deadline); then look again.
    live.wait_for_log("Got message", seen, left);
  }
}

std::string Kannel::tiraid_sms_toml(std::uint16_t sms_port, std::string_view secret,
                                    const std::vector<std::string>& proxy_numbers) const {
  std::string pool;
  for (const auto& p : proxy_numbers) pool += fmt::format("{}\"{}\"", pool.empty() ? "" : ", ", p);
  return fmt::format(
      "[sms]\nenabled = true\nlisten = \"127.0.0.1:{}\"\ninbound_secret = \"{}\"\nsendsms_url = \"{}\"\n"
      "username = \"{}\"\npassword = \"{}\"\nproxy_numbers = [{}]\n",
      sms_port, secret, sendsms_url(), username, password_, pool);
}

std::string Kannel::sendsms_url() const { return fmt::format("http://127.0.0.1:{}/cgi-bin/sendsms", sendsms_port_); }

}  // namespace tirai::client
