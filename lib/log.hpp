// Logging on fmt. A Logger is an object (each Reactor owns one), not a global: the level and the sink are
// per instance. The default sink writes one line per message to stderr; RFARM_LOG=trace|debug|info|warn|error|off
// sets the default level (warn).
//
//     logger.warn("accept: {}; backing off {} ms", ec.message(), delay_ms);
#pragma once

#include <fmt/format.h>

#include <functional>
#include <string_view>

namespace rfarm {

enum class LogLevel { trace, debug, info, warn, error, off };

std::string_view to_string(LogLevel level) noexcept;

// Parses "debug", "WARN", ...; returns fallback for anything else.
LogLevel parse_log_level(std::string_view text, LogLevel fallback) noexcept;

class Logger {
 public:
  using Sink = std::function<void(LogLevel, std::string_view message)>;

  // Level from RFARM_LOG (default warn); messages to stderr.
  Logger();
  Logger(LogLevel level, Sink sink);

  void set_level(LogLevel level) noexcept { level_ = level; }
  LogLevel level() const noexcept { return level_; }
  bool enabled(LogLevel level) const noexcept { return level >= level_ && level_ != LogLevel::off; }
  void set_sink(Sink sink) { sink_ = std::move(sink); }

  template <class... A>
  void log(LogLevel level, fmt::format_string<A...> format, A&&... args) {
    if (enabled(level)) write(level, fmt::vformat(format, fmt::make_format_args(args...)));
  }
  template <class... A>
  void debug(fmt::format_string<A...> f, A&&... a) { log(LogLevel::debug, f, std::forward<A>(a)...); }
  template <class... A>
  void info(fmt::format_string<A...> f, A&&... a) { log(LogLevel::info, f, std::forward<A>(a)...); }
  template <class... A>
  void warn(fmt::format_string<A...> f, A&&... a) { log(LogLevel::warn, f, std::forward<A>(a)...); }
  template <class... A>
  void error(fmt::format_string<A...> f, A&&... a) { log(LogLevel::error, f, std::forward<A>(a)...); }

 private:
  void write(LogLevel level, std::string_view message);

  LogLevel level_;
  Sink sink_;
};

}  // namespace rfarm
