#pragma once
// Real Kannel for the SMS end-to-end tests and tirai-bench: bearerbox with a fake SMSC,
// smsbox with the sendsms interface and an sms-service that calls tiraid,
// and Kannel's own fakesmsc playing the carrier (the clients' phones).
#include "tools/tiraid_process.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tirai::client {

// A message Kannel handed to the carrier (mobile-terminated), as fakesmsc
// printed it, decoded to UTF-8.
struct Mt {
  std::string from;
  std::string to;
  std::string text;
  std::string coding;  // "text" (GSM 7-bit) or "ucs-2"
};

class Kannel {
 public:
  static constexpr const char* bearerbox = "/usr/sbin/bearerbox";
  static constexpr const char* smsbox = "/usr/sbin/smsbox";
  static constexpr const char* fakesmsc = "/usr/lib/kannel/test/fakesmsc";
  static bool installed();

  // Picks free loopback ports and writes `dir`/kannel.conf: the sms-service
  // calls tiraid's SMS listener on `tiraid_sms_port` with `secret`.
  Kannel(std::filesystem::path dir, std::uint16_t tiraid_sms_port, std::string secret);
  ~Kannel();

  // bearerbox, smsbox, and a fakesmsc that sends nothing and receives.
  void start();
  void stop_smsbox();
  void start_smsbox();

  // A phone sends an SMS: fakesmsc is restarted with this one message
  // (ucs2 = as UCS-2, as a phone sends text outside the GSM alphabet).
  void send(std::string_view from, std::string_view to, std::string_view text, bool ucs2 = false);
  // Waits for a delivered SMS that `match` accepts and returns it.
  std::optional<Mt> wait_mt(const std::function<bool(const Mt&)>& match,
                            std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Every SMS delivered to the carrier so far.
  std::vector<Mt> mts() const;
  // The carrier (restarted) sends `count` SMS picked at random from `lines`
  // ("from to text ..." in fakesmsc's format), one every `interval` seconds.
  void carrier_sends(const std::vector<std::string>& lines, long count, double interval);
  // The live fakesmsc.
  LoggedProcess& carrier() { return *fakes_.back(); }

  std::string sendsms_url() const;
  // tiraid's [sms] table wired to this Kannel: its listener on `sms_port`,
  // Kannel's secret, sendsms URL and account, and the pool (more keys may follow).
  std::string tiraid_sms_toml(std::uint16_t sms_port, std::string_view secret,
                              const std::vector<std::string>& proxy_numbers) const;
  static constexpr const char* username = "tirai";
  const std::string& password() const { return password_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  void start_fakesmsc(const std::vector<std::string>& messages, long count, double interval);

  std::filesystem::path dir_;
  std::string password_;
  std::uint16_t admin_port_, smsbox_port_, smsc_port_, sendsms_port_;
  std::unique_ptr<LoggedProcess> bearer_;
  std::unique_ptr<LoggedProcess> smsbox_;
  std::vector<std::unique_ptr<LoggedProcess>> fakes_;  // every carrier run, the last one live
};

}  // namespace tirai::client
