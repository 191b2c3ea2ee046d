// Backend selection: names of the backends and the automatic choice. Not parametrized: this is about
// choosing a backend, not about one.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

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

TEST(BackendKindTest, RfarmBackendVariableChoosesEpoll) {
  const char* old = std::getenv("RFARM_BACKEND");
  std::string saved = old ? old : "";
  ::setenv("RFARM_BACKEND", "epoll", 1);
  ReactorOptions options;
  options.log_level = LogLevel::off;
  auto reactor = Reactor::create(options);
  if (old) ::setenv("RFARM_BACKEND", saved.c_str(), 1); else ::unsetenv("RFARM_BACKEND");
  ASSERT_TRUE(reactor) << reactor.error().message();
  EXPECT_EQ((*reactor)->backend_kind(), BackendKind::epoll);
}

}  // namespace
}  // namespace rfarm
