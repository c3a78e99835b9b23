#pragma once
#include "crypto/key_arena.hpp"
#include "crypto/password.hpp"
#include "proto/wipe.hpp"
#include "relay/core/failure.hpp"
#include "relay/core/runner.hpp"
#include "relay/core/session_core.hpp"

#include <functional>
#include <map>
#include <optional>
#include <variant>

namespace tirai::relay {

enum class BookingErrc {
  invalid_alias,
  weak_secret,
  alias_taken,
  unknown_talent,
  invalid_number,
  sms_disabled,
  unknown_package,
  client_restricted,
  kyc_required,
  pool_exhausted,
  unknown_session,
  internal,
};
std::string_view to_code(BookingErrc e);
using BookingError = Failure<BookingErrc>;

struct BookRequest {
  std::string talent;
  proto::WipedString client_number;  // as the operator typed it; validated as E.164
  std::string package;
  std::optional<bool> sms;  // a proxy number for the client; default: when SMS is enabled
};

struct Booking {
  std::string session;
  std::string client_alias;
  std::string client_token;  // shown once, never stored
  UnixMs expires_at{};
  std::string proxy_number;  // empty without SMS
};
using BookResult = std::variant<Booking, BookingError>;

struct TalentInfo {
  std::string alias;
  bool online = false;
  std::size_t open_sessions = 0;
  UnixMs created_at{};
};

// Booking and the operator's actions (design §4, §6): talents enrolled and
// removed, sessions booked (a client alias, a token, a proxy number from the
// pool) and ended, clients erased. Each answer is a BookingError or success.
class Bookings {
 public:
  using Done = std::function<void(std::optional<BookingError>)>;
  Bookings(SessionCore& core, Worker& worker, const Policy& policy, crypto::PasswordCost cost = {});

  // Proxy numbers (design §9): client numbers of SMS sessions are kept in
  // `numbers`, an arena of the relay thread. Without it, no booking gets one.
  void enable_proxy_numbers(crypto::KeyArena& numbers) { numbers_ = &numbers; }
  // Whether a booking can give the client a proxy number ([sms] enabled).
  bool proxy_numbers_enabled() const { return numbers_ != nullptr; }
  // SIGHUP: new bookings use the new packages; running sessions keep theirs.
  void set_packages(std::map<std::string, Package> packages) { packages_ = std::move(packages); }
  const std::map<std::string, Package>& packages() const { return packages_; }

  void add_talent(std::string alias, std::string secret, Done done);
  std::vector<TalentInfo> talents() const;
  void remove_talent(const std::string& alias, Done done);
  void book(BookRequest request, std::function<void(BookResult)> done);
  std::optional<BookingError> end_by_operator(const std::string& session);
  // Ends the client's live sessions (client_erased; the talent is told) and
  // erases everything stored about them. Succeeds whether or not the number
  // was known, so the answer reveals nothing.
  void erase_client(std::string number, Done done);

 private:
  bool kyc_window_now() const;

  SessionCore& core_;
  Worker& worker_;
  const Policy& policy_;
  crypto::PasswordCost cost_;
  std::map<std::string, Package> packages_;
  crypto::KeyArena* numbers_ = nullptr;
};

}  // namespace tirai::relay
