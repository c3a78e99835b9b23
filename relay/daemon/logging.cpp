#include "relay/daemon/logging.hpp"

#include "proto/json_writer.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

namespace tirai::relay {

namespace {
// The message as a JSON string, escaped, for the json log format.
class JsonMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string out;
    proto::append_json_string(out, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(out.data(), out.data() + out.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessage>(); }
};
// The syslog priority of the line's level as "<N>", which the journal takes
// off and keeps as the line's PRIORITY.
class SyslogPriority final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    static constexpr std::string_view by_level[] = {"<7>", "<7>", "<6>", "<4>", "<3>", "<2>", "<6>"};
    const auto p = by_level[static_cast<std::size_t>(msg.level)];
    dest.append(p.data(), p.data() + p.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<SyslogPriority>(); }
};

// Whether stderr is the journal's stream (systemd.exec(5), $JOURNAL_STREAM:
// "device:inode" of the socket it connected): then the journal stamps each
// line itself.
bool stderr_is_journal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  struct stat st {};
  if (!env || ::fstat(STDERR_FILENO, &st) != 0) return false;
  return fmt::format("{}:{}", st.st_dev, st.st_ino) == env;
}
}  // namespace

void set_log_level(std::string_view level) { spdlog::set_level(spdlog::level::from_str(std::string(level))); }

void setup_logging(const Config::Log& log) {
  auto logger = std::make_shared<spdlog::logger>("tirai", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (log.format == LogFormat::json) {
    formatter->add_flag<JsonMessage>('*').set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":%*})");
  } else if (stderr_is_journal()) {
    formatter->add_flag<SyslogPriority>('*').set_pattern("%*%l %v");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v");
  }
  logger->set_formatter(std::move(formatter));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  set_log_level(log.level);
}

}  // namespace tirai::relay
