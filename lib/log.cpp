#include "lib/log.hpp"

#include <fmt/chrono.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace rfarm {

std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::trace: return "trace";
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
    case LogLevel::off: return "off";
  }
  return "?";
}

LogLevel parse_log_level(std::string_view text, LogLevel fallback) noexcept {
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (LogLevel l : {LogLevel::trace, LogLevel::debug, LogLevel::info, LogLevel::warn, LogLevel::error, LogLevel::off})
    if (lower == to_string(l)) return l;
  return fallback;
}

namespace {

void write_to_stderr(LogLevel level, std::string_view message) {
  auto now = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  // One fwrite per line so concurrent reactors on several threads do not interleave within a line.
  std::string line = fmt::format("{:%H:%M:%S} rfarm {}: {}\n", now, to_string(level), message);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

LogLevel level_from_environment() {
  const char* env = std::getenv("RFARM_LOG");
  return env ? parse_log_level(env, LogLevel::warn) : LogLevel::warn;
}

}  // namespace

Logger::Logger() : Logger(level_from_environment(), write_to_stderr) {}

Logger::Logger(LogLevel level, Sink sink) : level_(level), sink_(std::move(sink)) {}

void Logger::write(LogLevel level, std::string_view message) {
  if (sink_) sink_(level, message);
}

}  // namespace rfarm
