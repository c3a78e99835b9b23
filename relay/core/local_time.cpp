#include "relay/core/local_time.hpp"

#include <cstdlib>
#include <ctime>
#include <mutex>
#include <optional>

namespace tirai::relay {

int local_minute_of_day(proto::UnixMs t, const std::string& tz) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  const char* old = std::getenv("TZ");
  const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  ::setenv("TZ", tz.c_str(), 1);
  ::tzset();
  const std::time_t secs = static_cast<std::time_t>(t / 1000);
  std::tm tm{};
  ::localtime_r(&secs, &tm);
  if (saved) ::setenv("TZ", saved->c_str(), 1);
  else ::unsetenv("TZ");
  ::tzset();
  return tm.tm_hour * 60 + tm.tm_min;
}

}  // namespace tirai::relay
