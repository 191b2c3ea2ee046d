// rfarm::Condition: every network failure maps to a portable condition, including the two std::errc lacks
// (EHOSTDOWN, ESHUTDOWN); anything else is Condition::unknown with the raw errno kept.
#include <gtest/gtest.h>

#include <cerrno>
#include <optional>
#include <string>

#include "lib/error.hpp"

namespace rfarm {
namespace {

struct Mapping {
  int err;
  Condition condition;
  std::optional<std::errc> portable;  // the std::errc it also equals, where the standard has one
};

// One row per condition the issue names.
const Mapping kTable[] = {
    {EADDRINUSE, Condition::address_in_use, std::errc::address_in_use},
    {EADDRNOTAVAIL, Condition::address_not_available, std::errc::address_not_available},
    {ENETDOWN, Condition::network_down, std::errc::network_down},
    {ENETRESET, Condition::network_reset, std::errc::network_reset},
    {ENETUNREACH, Condition::network_unreachable, std::errc::network_unreachable},
    {EHOSTDOWN, Condition::host_down, std::nullopt},
    {EHOSTUNREACH, Condition::host_unreachable, std::errc::host_unreachable},
    {ECONNABORTED, Condition::connection_aborted, std::errc::connection_aborted},
    {ECONNRESET, Condition::connection_reset, std::errc::connection_reset},
    {ECONNREFUSED, Condition::connection_refused, std::errc::connection_refused},
    {ETIMEDOUT, Condition::timed_out, std::errc::timed_out},
    {ENOBUFS, Condition::no_buffer_space, std::errc::no_buffer_space},
    {ESHUTDOWN, Condition::shutdown, std::nullopt},
    {ENOPROTOOPT, Condition::protocol_not_available, std::errc::no_protocol_option},
};

constexpr Condition kAllConditions[] = {
    Condition::address_in_use,     Condition::address_not_available, Condition::network_down,
    Condition::network_reset,      Condition::network_unreachable,   Condition::host_down,
    Condition::host_unreachable,   Condition::connection_aborted,    Condition::connection_reset,
    Condition::connection_refused, Condition::timed_out,             Condition::no_buffer_space,
    Condition::shutdown,           Condition::protocol_not_available, Condition::invalid_address,
    Condition::unknown,
};

TEST(ErrorConditionsTest, EveryErrnoMatchesItsConditionAndNoOther) {
  for (const Mapping& row : kTable) {
    for (const std::error_code ec : {errno_code(row.err), std::make_error_code(static_cast<std::errc>(row.err))}) {
      SCOPED_TRACE(ec.category().name() + std::string(" ") + ec.message());
      EXPECT_EQ(condition_of(ec), row.condition);
      EXPECT_EQ(ec.value(), row.err) << "the raw errno is kept";
      for (Condition c : kAllConditions) EXPECT_EQ(ec == c, c == row.condition) << make_error_condition(c).message();
      if (row.portable) {
        EXPECT_EQ(ec, *row.portable) << "still equal to the standard condition";
      }
    }
  }
}

TEST(ErrorConditionsTest, StdErrcLacksHostDownAndShutdownWhichIsWhyConditionExists) {
  // If a later libstdc++ maps these, Condition stays correct; this documents why it was added.
  EXPECT_NE(errno_code(EHOSTDOWN).default_error_condition().category(), std::generic_category());
  EXPECT_NE(errno_code(ESHUTDOWN).default_error_condition().category(), std::generic_category());
  EXPECT_TRUE(errno_code(EHOSTDOWN) == Condition::host_down);
  EXPECT_TRUE(errno_code(ESHUTDOWN) == Condition::shutdown);
}

TEST(ErrorConditionsTest, AnyOtherFailureIsUnknownWithItsErrnoKept) {
  for (int err : {EPERM, EACCES, EMFILE, EPIPE, EPROTONOSUPPORT, EINVAL}) {
    std::error_code ec = errno_code(err);
    EXPECT_EQ(condition_of(ec), Condition::unknown) << ec.message();
    EXPECT_TRUE(ec == Condition::unknown) << ec.message();
    EXPECT_EQ(ec.value(), err);
  }
}

TEST(ErrorConditionsTest, SuccessMatchesNoCondition) {
  for (Condition c : kAllConditions) EXPECT_FALSE(std::error_code() == c) << make_error_condition(c).message();
}

TEST(ErrorConditionsTest, RfarmDeadlineIsTimedOut) {
  std::error_code ec = make_error_code(Errc::timed_out);
  EXPECT_TRUE(ec == Condition::timed_out);
  EXPECT_EQ(condition_of(ec), Condition::timed_out);
}

TEST(ErrorConditionsTest, EveryAddressTextErrorIsInvalidAddressAndInvalidArgument) {
  for (Errc e : {Errc::invalid_address, Errc::invalid_ip, Errc::invalid_port, Errc::invalid_scope}) {
    std::error_code ec = make_error_code(e);
    EXPECT_TRUE(ec == Condition::invalid_address) << ec.message();
    EXPECT_EQ(ec, std::errc::invalid_argument) << ec.message();
    EXPECT_FALSE(ec == Condition::unknown) << ec.message();
  }
}

TEST(ErrorConditionsTest, OtherRfarmErrorsAreUnknown) {
  std::error_code ec = make_error_code(Errc::end_of_stream);
  EXPECT_EQ(condition_of(ec), Condition::unknown);
  EXPECT_FALSE(ec == Condition::connection_reset);
}

TEST(ErrorConditionsTest, EveryConditionHasAMessage) {
  for (Condition c : kAllConditions) {
    std::string text = make_error_condition(c).message();
    EXPECT_FALSE(text.empty());
    EXPECT_NE(text, "unknown condition");
  }
}

}  // namespace
}  // namespace rfarm
