// Backend selection: names of the backends and the automatic choice. Not parametrized: this is about
// choosing a backend, not about one.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reactor/loop/reactor.hpp"

namespace rfarm {
namespace {

TEST(BackendKindTest, NamesParseCaseInsensitively) {
  EXPECT_EQ(parse_backend_kind("epoll").value(), BackendKind::epoll);
  EXPECT_EQ(parse_backend_kind("EPOLL").value(), BackendKind::epoll);
  EXPECT_EQ(parse_backend_kind("uring").value(), BackendKind::uring);
  EXPECT_EQ(parse_backend_kind("io_uring").value(), BackendKind::uring);
  EXPECT_EQ(parse_backend_kind("auto").value(), BackendKind::automatic);
}

TEST(BackendKindTest, UnknownNameIsInvalidArgument) {
  for (std::string_view bad : {"", "kqueue", "epol", "epollx", "uring "}) {
    auto kind = parse_backend_kind(bad);
    ASSERT_FALSE(kind) << bad;
    EXPECT_EQ(kind.error(), std::errc::invalid_argument);
  }
}

TEST(BackendKindTest, ToStringParsesBack) {
  for (BackendKind k : {BackendKind::automatic, BackendKind::epoll, BackendKind::uring})
    EXPECT_EQ(parse_backend_kind(to_string(k)).value(), k);
}

TEST(BackendKindTest, AutomaticChoiceGivesAWorkingBackend) {
  ReactorOptions options;
  options.log_level = LogLevel::off;
  auto reactor = Reactor::create(options);
  ASSERT_TRUE(reactor) << reactor.error().message();
  EXPECT_NE((*reactor)->backend_kind(), BackendKind::automatic);
}

// Sets RFARM_BACKEND for the scope of one test (nullptr: unset), and puts back what was there.
class ScopedBackendVariable {
 public:
  explicit ScopedBackendVariable(const char* value) {
    if (const char* old = std::getenv("RFARM_BACKEND")) saved_ = old;
    if (value) ::setenv("RFARM_BACKEND", value, 1); else ::unsetenv("RFARM_BACKEND");
  }
  ~ScopedBackendVariable() {
    if (saved_) ::setenv("RFARM_BACKEND", saved_->c_str(), 1); else ::unsetenv("RFARM_BACKEND");
  }

 private:
  std::optional<std::string> saved_;
};

TEST(BackendKindTest, RfarmBackendVariableChoosesEpoll) {
  ScopedBackendVariable env("epoll");
  ReactorOptions options;
  options.log_level = LogLevel::off;
  auto reactor = Reactor::create(options);
  ASSERT_TRUE(reactor) << reactor.error().message();
  EXPECT_EQ((*reactor)->backend_kind(), BackendKind::epoll);
}

// These are about how the backend is chosen, before any exists: no BackendTest parameter applies, as the
// variable is what picks the backend (or refuses to).
TEST(BackendKindTest, UnknownRfarmBackendFailsCreateAndSaysWhy) {
  ScopedBackendVariable env("epol");
  std::vector<std::string> lines;
  ReactorOptions options;
  options.log_level = LogLevel::warn;
  options.log_sink = [&lines](LogLevel, std::string_view line) { lines.emplace_back(line); };
  auto reactor = Reactor::create(options);
  ASSERT_FALSE(reactor) << "RFARM_BACKEND=epol must not fall back silently to a backend of the reactor's choice";
  EXPECT_EQ(reactor.error(), std::errc::invalid_argument);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("RFARM_BACKEND=epol"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("epoll, uring, auto"), std::string::npos) << lines[0];
}

TEST(BackendKindTest, ExplicitBackendIgnoresRfarmBackend) {
  ScopedBackendVariable env("bogus");
  ReactorOptions options;
  options.backend = BackendKind::epoll;
  options.log_level = LogLevel::off;
  auto reactor = Reactor::create(options);
  ASSERT_TRUE(reactor) << reactor.error().message();
  EXPECT_EQ((*reactor)->backend_kind(), BackendKind::epoll);
}

// RFARM_TEST_URING_BUILT comes from test/reactor/backend/meson.build: whether liburing was found (meson option
// 'uring'). A build without it must still give every caller a reactor, on epoll, and say why.
TEST(BackendKindTest, BuildWithoutLiburingRunsUringRequestsOnEpollAndSaysWhy) {
  if (RFARM_TEST_URING_BUILT) GTEST_SKIP() << "this build has the io_uring backend (-During=disabled tests this)";
  std::vector<std::string> lines;
  ReactorOptions options;
  options.backend = BackendKind::uring;
  options.log_level = LogLevel::warn;
  options.log_sink = [&lines](LogLevel, std::string_view line) { lines.emplace_back(line); };
  auto reactor = Reactor::create(options);
  ASSERT_TRUE(reactor) << reactor.error().message();
  EXPECT_EQ((*reactor)->backend_kind(), BackendKind::epoll);
  EXPECT_EQ((*reactor)->backend_fallback_reason(), make_error_code(Errc::backend_unavailable));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("falling back to epoll"), std::string::npos) << lines[0];
}

TEST(BackendKindTest, EmptyRfarmBackendMeansUnset) {
  ScopedBackendVariable env("");
  ReactorOptions options;
  options.log_level = LogLevel::off;
  auto reactor = Reactor::create(options);
  ASSERT_TRUE(reactor) << reactor.error().message();
  EXPECT_NE((*reactor)->backend_kind(), BackendKind::automatic);
}

}  // namespace
}  // namespace rfarm
