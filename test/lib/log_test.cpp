// Logging: level names, parsing (RFARM_LOG), filtering by level, and the per-instance sink.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "lib/log.hpp"

namespace rfarm {
namespace {

constexpr LogLevel kAllLevels[] = {LogLevel::trace, LogLevel::debug, LogLevel::info,
                                   LogLevel::warn,  LogLevel::error, LogLevel::off};

TEST(LogTest, EveryLevelNameParsesBack) {
  for (LogLevel l : kAllLevels) EXPECT_EQ(parse_log_level(to_string(l), LogLevel::info), l) << to_string(l);
}

TEST(LogTest, ParsingIgnoresCase) {
  EXPECT_EQ(parse_log_level("WARN", LogLevel::info), LogLevel::warn);
  EXPECT_EQ(parse_log_level("Debug", LogLevel::info), LogLevel::debug);
  EXPECT_EQ(parse_log_level("oFF", LogLevel::info), LogLevel::off);
}

TEST(LogTest, UnknownTextGivesTheFallback) {
  EXPECT_EQ(parse_log_level("", LogLevel::error), LogLevel::error);
  EXPECT_EQ(parse_log_level("verbose", LogLevel::trace), LogLevel::trace);
  EXPECT_EQ(parse_log_level("warning", LogLevel::info), LogLevel::info);
  EXPECT_EQ(parse_log_level(" warn", LogLevel::info), LogLevel::info);
}

struct Captured {
  std::vector<std::pair<LogLevel, std::string>> lines;
  Logger::Sink sink() {
    return [this](LogLevel l, std::string_view m) { lines.emplace_back(l, std::string(m)); };
  }
};

TEST(LogTest, MessagesBelowTheLevelAreDropped) {
  Captured out;
  Logger log(LogLevel::warn, out.sink());
  log.debug("not shown {}", 1);
  log.info("not shown {}", 2);
  log.warn("shown {}", 3);
  log.error("shown {}", 4);
  ASSERT_EQ(out.lines.size(), 2u);
  EXPECT_EQ(out.lines[0], std::pair(LogLevel::warn, std::string("shown 3")));
  EXPECT_EQ(out.lines[1], std::pair(LogLevel::error, std::string("shown 4")));
}

TEST(LogTest, OffDropsEverything) {
  Captured out;
  Logger log(LogLevel::off, out.sink());
  log.error("dropped");
  log.log(LogLevel::off, "dropped too");
  EXPECT_TRUE(out.lines.empty());
  EXPECT_FALSE(log.enabled(LogLevel::error));
}

TEST(LogTest, SetLevelAndSetSinkTakeEffect) {
  Captured first, second;
  Logger log(LogLevel::error, first.sink());
  log.info("dropped");
  log.set_level(LogLevel::trace);
  log.info("kept {}", "one");
  log.set_sink(second.sink());
  log.info("kept {}", "two");
  ASSERT_EQ(first.lines.size(), 1u);
  EXPECT_EQ(first.lines[0].second, "kept one");
  ASSERT_EQ(second.lines.size(), 1u);
  EXPECT_EQ(second.lines[0].second, "kept two");
}

TEST(LogTest, RfarmLogSetsTheDefaultLevel) {
  const char* old = std::getenv("RFARM_LOG");
  std::string saved = old ? old : "";
  ::setenv("RFARM_LOG", "debug", 1);
  Logger debug_logger;
  ::setenv("RFARM_LOG", "nonsense", 1);
  Logger fallback_logger;
  ::unsetenv("RFARM_LOG");
  Logger default_logger;
  if (old) ::setenv("RFARM_LOG", saved.c_str(), 1);
  EXPECT_EQ(debug_logger.level(), LogLevel::debug);
  EXPECT_EQ(fallback_logger.level(), LogLevel::warn);
  EXPECT_EQ(default_logger.level(), LogLevel::warn);
}

}  // namespace
}  // namespace rfarm
