// Errors: OS errors compare equal to the portable std::errc conditions, rfarm's own codes have a category
// of their own and map onto portable conditions where one fits.
#include <gtest/gtest.h>

#include <cerrno>
#include <set>
#include <string>
#include <system_error>

#include "lib/error.hpp"

namespace rfarm {
namespace {

TEST(ErrorTest, ErrnoCodesMatchPortableConditions) {
  EXPECT_EQ(errno_code(ECONNREFUSED), std::errc::connection_refused);
  EXPECT_EQ(errno_code(ECONNRESET), std::errc::connection_reset);
  EXPECT_EQ(errno_code(ECANCELED), std::errc::operation_canceled);
  EXPECT_NE(errno_code(ECONNREFUSED), std::errc::connection_reset);
  EXPECT_EQ(errno_code(ECONNREFUSED).value(), ECONNREFUSED) << "the raw errno stays available";
}

TEST(ErrorTest, LastErrnoCapturesErrno) {
  errno = EADDRINUSE;
  EXPECT_EQ(last_errno(), std::errc::address_in_use);
}

TEST(ErrorTest, KernelStyleResultsConvert) {
  EXPECT_FALSE(code_from_result(0));
  EXPECT_FALSE(code_from_result(17));
  EXPECT_EQ(code_from_result(-EAGAIN), std::errc::resource_unavailable_try_again);
}

TEST(ErrorTest, RfarmCodesMapOntoPortableConditions) {
  EXPECT_EQ(make_error_code(Errc::timed_out), std::errc::timed_out);
  EXPECT_EQ(make_error_code(Errc::operation_in_progress), std::errc::operation_in_progress);
  EXPECT_EQ(make_error_code(Errc::backend_unavailable), std::errc::function_not_supported);
  EXPECT_EQ(make_error_code(Errc::invalid_address), std::errc::invalid_argument);
  EXPECT_EQ(make_error_code(Errc::line_too_long), std::errc::message_size);
  EXPECT_EQ(make_error_code(Errc::unix_path_in_use), std::errc::address_in_use);
  EXPECT_EQ(make_error_code(Errc::unix_path_not_socket), std::errc::file_exists);
  EXPECT_EQ(make_error_code(Errc::message_truncated), std::errc::message_size);
}

TEST(ErrorTest, RfarmTimedOutAndTheKernelsTimedOutAreTheSameCondition) {
  // A caller handling "timed out" need not know which layer timed out.
  std::error_code ours = Errc::timed_out;
  std::error_code kernels = errno_code(ETIMEDOUT);
  EXPECT_EQ(ours, std::errc::timed_out);
  EXPECT_EQ(kernels, std::errc::timed_out);
  EXPECT_NE(ours, kernels) << "still distinct codes: the category tells who reported it";
}

TEST(ErrorTest, EndOfStreamIsNoErrnoCondition) {
  std::error_code eos = Errc::end_of_stream;
  EXPECT_TRUE(eos);
  EXPECT_EQ(eos, Errc::end_of_stream);
  EXPECT_NE(eos, std::errc::connection_reset);
  EXPECT_NE(eos, std::errc::broken_pipe);
  EXPECT_EQ(eos.default_error_condition().category(), rfarm_category());
}

TEST(ErrorTest, CodesConvertImplicitlyAndCompareToTheEnum) {
  std::error_code ec = Errc::invalid_address;
  EXPECT_EQ(ec, Errc::invalid_address);
  EXPECT_NE(ec, Errc::timed_out);
  EXPECT_EQ(&ec.category(), &rfarm_category());
  EXPECT_STREQ(ec.category().name(), "rfarm");
}

TEST(ErrorTest, OkIsNoError) { EXPECT_FALSE(make_error_code(Errc::ok)); }

TEST(ErrorTest, EveryCodeHasItsOwnMessage) {
  std::set<std::string> messages;
  for (Errc e : {Errc::ok, Errc::end_of_stream, Errc::operation_in_progress, Errc::timed_out,
                 Errc::backend_unavailable, Errc::invalid_address, Errc::line_too_long}) {
    std::string m = make_error_code(e).message();
    EXPECT_FALSE(m.empty());
    EXPECT_NE(m, "unknown rfarm error");
    messages.insert(m);
  }
  EXPECT_EQ(messages.size(), 7u);
  EXPECT_EQ(std::error_code(999, rfarm_category()).message(), "unknown rfarm error");
}

TEST(ErrorTest, FailHelpersBuildUnexpectedResults) {
  Result<int> a = fail(Errc::timed_out);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error(), Errc::timed_out);
  errno = EPIPE;
  Result<int> b = fail_errno();
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error(), std::errc::broken_pipe);
}

}  // namespace
}  // namespace rfarm
