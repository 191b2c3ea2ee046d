// examples/farm_job.cpp (the quick start's job, shown in farm/README.md) against two real farm-servers.
#include <gtest/gtest.h>

#include "test/support/farm_server_process.hpp"
#include "test/support/child_process.hpp"

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;

TEST(FarmJobExample, CountsThePrimesBelow2e7AndPrintsARate) {
  auto a = FarmServerProcess::start(BackendKind::epoll);
  auto b = FarmServerProcess::start(BackendKind::epoll);
  ASSERT_TRUE(a && b);
  auto job = ChildProcess::spawn({env_text("RFARM_EXAMPLE_FARM_JOB"), a->spec(), b->spec()});
  ASSERT_TRUE(job);
  auto primes = job->read_line(30s);
  ASSERT_TRUE(primes);
  EXPECT_NE(primes->find("primes below 20000000: 1270607 (200 tasks on 2 servers"), std::string::npos) << *primes;
  auto rate = job->read_line(30s);
  ASSERT_TRUE(rate);
  EXPECT_NE(rate->find("100000 add tasks in"), std::string::npos) << *rate;
  EXPECT_NE(rate->find("tasks/s"), std::string::npos) << *rate;
  EXPECT_EQ(job->wait(10s), 0);
  EXPECT_EQ(a->terminate(), 0);
  EXPECT_EQ(b->terminate(), 0);
}

TEST(FarmJobExample, NoServersIsAUsageError) {
  auto job = ChildProcess::spawn({env_text("RFARM_EXAMPLE_FARM_JOB")});
  ASSERT_TRUE(job);
  EXPECT_EQ(job->wait(10s), 2);
}

}  // namespace
}  // namespace rfarm::test
