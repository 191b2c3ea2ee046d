// The command-line conventions of every tool (tools/cli.hpp), tested on the built programs: --help on stdout
// with status 0 and the environment variables described; --version; a usage error is ONE line on stderr that
// names the option (or variable) at fault, with status 2; RFARM_BACKEND and RFARM_LOG are checked, not
// ignored.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test/tools/tool_runner.hpp"

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;

struct Tool {
  const char* variable;  // where the build put its path
  const char* name;
};

constexpr Tool kEchoServer{"RFARM_ECHO_SERVER", "echo-server"};
constexpr Tool kEchoClient{"RFARM_ECHO_CLIENT", "echo-client"};
constexpr Tool kMcast{"RFARM_MCAST", "mcast"};
constexpr Tool kHttpHello{"RFARM_HTTP_HELLO", "http-hello"};
constexpr Tool kFarmServer{"RFARM_FARM_SERVER", "farm-server"};
constexpr Tool kFarm{"RFARM_FARM", "farm"};
constexpr Tool kFarmAdmin{"RFARM_FARM_ADMIN", "farm-admin"};

std::string path_of(const Tool& tool) { return tool_path(tool.variable); }

#define PATH_OR_SKIP(var, tool)                                                          \
  std::string var = path_of(tool);                                                       \
  if (var.empty()) GTEST_SKIP() << tool.variable << " is not set (run through meson test)"

class EveryToolTest : public ::testing::TestWithParam<Tool> {};

TEST_P(EveryToolTest, HelpGoesToStdoutWithStatusZeroAndDescribesTheEnvironment) {
  PATH_OR_SKIP(program, GetParam());
  for (const char* flag : {"--help", "-h"}) {
    ToolRun r = run_tool({program, flag});
    EXPECT_EQ(r.status, 0) << flag << "\n" << describe(r);
    EXPECT_EQ(r.err, "") << flag;
    EXPECT_NE(r.out.find("Usage: "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(GetParam().name), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("RFARM_BACKEND"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("RFARM_LOG"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--backend"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--spin-us"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Exit status"), std::string::npos) << r.out;
  }
}

TEST_P(EveryToolTest, VersionNamesToolProjectAndVersion) {
  PATH_OR_SKIP(program, GetParam());
  std::string version = tool_path("RFARM_PROJECT_VERSION");
  ASSERT_FALSE(version.empty()) << "RFARM_PROJECT_VERSION is not set by the build";
  ToolRun r = run_tool({program, "--version"});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_EQ(r.out, std::string(GetParam().name) + " rfarm " + version + "\n");
  EXPECT_EQ(r.err, "");
}

TEST_P(EveryToolTest, UnknownOptionIsOneUsageLineNamingIt) {
  PATH_OR_SKIP(program, GetParam());
  ToolRun r = run_tool({program, "--frobnicate"});
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_EQ(r.out, "");
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("--frobnicate"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--help"), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Tools, EveryToolTest,
                         ::testing::Values(kEchoServer, kEchoClient, kMcast, kHttpHello, kFarmServer, kFarm, kFarmAdmin),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           std::erase(n, '-');
                           return n;
                         });

// --- bad values: status 2, one line on stderr naming the option and what is wrong -------------------------

struct UsageCase {
  Tool tool;
  std::vector<std::string> args;
  std::vector<std::string> says;  // every one of these appears in the line
  std::vector<std::string> env{};
};

void PrintTo(const UsageCase& c, std::ostream* os) {
  *os << c.tool.name;
  for (const auto& a : c.args) *os << " '" << a << "'";
}

class UsageErrorTest : public ::testing::TestWithParam<UsageCase> {};

TEST_P(UsageErrorTest, ExitsTwoWithOneLineNamingTheCulprit) {
  const UsageCase& c = GetParam();
  PATH_OR_SKIP(program, c.tool);
  std::vector<std::string> argv{program};
  argv.insert(argv.end(), c.args.begin(), c.args.end());
  // Bounded: a tool that took a bad value for a good one would serve (or wait) instead of exiting.
  ToolRun r = run_tool(argv, c.env, 10s);
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_EQ(r.out, "") << "usage errors go to stderr";
  ASSERT_EQ(r.err_lines().size(), 1u) << "exactly one line:\n" << r.err;
  const std::string& line = r.err;
  EXPECT_TRUE(line.starts_with(std::string(c.tool.name) + ": ")) << line;
  for (const std::string& s : c.says) EXPECT_NE(line.find(s), std::string::npos) << "wanted '" << s << "' in: " << line;
  EXPECT_NE(line.find("--help"), std::string::npos) << line;
}

const std::string kLongPath = "unix:/" + std::string(200, 'p');

INSTANTIATE_TEST_SUITE_P(
    EchoServer, UsageErrorTest,
    ::testing::Values(
        UsageCase{kEchoServer, {}, {"--listen is required"}},
        UsageCase{kEchoServer, {"--listen"}, {"--listen"}},
        UsageCase{kEchoServer, {"--listen", "carrier-pigeon:coop"}, {"--listen", "carrier-pigeon", "unknown transport"}},
        UsageCase{kEchoServer, {"--listen", "tcp:127.0.0.1:"}, {"--listen", "\"tcp:127.0.0.1:\"", "missing port"}},
        UsageCase{kEchoServer, {"--listen", "tcp:127.0.0.1"}, {"--listen", "missing port"}},
        UsageCase{kEchoServer, {"--listen", "tcp:127.0.0.1:70000"}, {"--listen", "port out of range"}},
        UsageCase{kEchoServer, {"--listen", "tcp:127.0.0.1:http"}, {"--listen", "port is not a number"}},
        UsageCase{kEchoServer, {"--listen", "tcp:example.test:80"}, {"--listen", "not an IP address"}},
        UsageCase{kEchoServer, {"--listen", "tcp:[::1:80"}, {"--listen", "without ']'"}},
        UsageCase{kEchoServer, {"--listen", "tcp:::1:80"}, {"--listen", "brackets"}},
        UsageCase{kEchoServer, {"--listen", "unix:"}, {"--listen", "empty Unix socket path"}},
        UsageCase{kEchoServer, {"--listen", kLongPath}, {"--listen", "too long"}},
        UsageCase{kEchoServer, {"--listen", "tcp:127.0.0.1:0", "--spin-us", "abc"}, {"--spin-us", "\"abc\""}},
        UsageCase{kEchoServer, {"--listen", "tcp:127.0.0.1:0", "--spin-us", "-5"}, {"--spin-us", "\"-5\""}},
        UsageCase{kEchoServer, {"--listen", "tcp:127.0.0.1:0", "--backend", "kqueue"}, {"--backend", "kqueue"}},
        UsageCase{kEchoServer, {"--listen", "tcp:127.0.0.1:0", "--threads", "abc"}, {"--threads", "\"abc\""}},
        UsageCase{kEchoServer, {"--listen", "udp:127.0.0.1:0", "--threads", "2"}, {"--threads 2", "one core"}},
        UsageCase{kEchoServer, {"--listen", "tcp:127.0.0.1:0", "--distribution", "random"}, {"--distribution", "random"}},
        UsageCase{kEchoServer,
                  {"--listen", "unix:/tmp/x.sock", "--distribution", "reuseport"},
                  {"--distribution reuseport", "Unix path"}},
        UsageCase{kEchoServer,
                  {"--listen", "tcp:127.0.0.1:0", "--threads", "1", "--distribution", "round-robin"},
                  {"--distribution", "--threads 1"}},
        UsageCase{kEchoServer, {"--listen", "tcp:127.0.0.1:0", "--log-level", "loud"}, {"--log-level", "loud"}},
        UsageCase{kEchoServer, {"--listen", "tcp:127.0.0.1:0", "--tls-cert", "c.pem"}, {"--tls-cert", "tls:"}},
        UsageCase{kEchoServer, {"--listen", "unix:/tmp/x.sock", "--tls-key", "k.pem"}, {"--tls-key", "tls:"}},
        UsageCase{kEchoServer, {"--listen", "tcp:127.0.0.1:0", "--tls-ca", "ca.pem"}, {"--tls-ca", "tls:"}},
        UsageCase{kEchoServer,
                  {"--listen", "tls:127.0.0.1:0"},
                  {"--listen tls:127.0.0.1:0", "needs --tls-cert and --tls-key"}},
        UsageCase{kEchoServer, {"--listen", "tls:127.0.0.1:0", "--tls-cert", "c.pem"}, {"needs --tls-key"}},
        UsageCase{kEchoServer, {"--listen", "tls:127.0.0.1:0", "--tls-key", "k.pem"}, {"needs --tls-cert"}},
        UsageCase{kEchoServer,
                  {"--listen", "tls:127.0.0.1:0", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--require-client-cert"},
                  {"--require-client-cert", "--tls-ca"}},
        UsageCase{kEchoServer, {"--listen", "tcp:127.0.0.1:0"}, {"RFARM_BACKEND=bogus"}, {"RFARM_BACKEND=bogus"}},
        UsageCase{kEchoServer, {"--listen", "tcp:127.0.0.1:0"}, {"RFARM_LOG=loud"}, {"RFARM_LOG=loud"}}));

INSTANTIATE_TEST_SUITE_P(
    EchoClient, UsageErrorTest,
    ::testing::Values(
        UsageCase{kEchoClient, {}, {"--connect is required"}},
        UsageCase{
            kEchoClient, {"--connect", "tcp:127.0.0.1:7", "--conns", "0"}, {"--conns", "\"0\"", "positive integer"}},
        UsageCase{kEchoClient, {"--connect", "tcp:127.0.0.1:7", "--conns", "abc"}, {"--conns", "\"abc\""}},
        UsageCase{kEchoClient, {"--connect", "tcp:127.0.0.1:7", "--conns", "-2"}, {"--conns", "\"-2\""}},
        UsageCase{kEchoClient, {"--connect", "tcp:127.0.0.1:7", "--messages", "abc"}, {"--messages", "\"abc\""}},
        UsageCase{kEchoClient, {"--connect", "tcp:127.0.0.1:7", "--messages", "0"}, {"--messages", "\"0\""}},
        UsageCase{kEchoClient, {"--connect", "tcp:127.0.0.1:7", "--size", "0"}, {"--size", "\"0\""}},
        UsageCase{kEchoClient, {"--connect", "tcp:127.0.0.1:7", "--size", "1.5"}, {"--size", "\"1.5\""}},
        UsageCase{kEchoClient, {"--connect", "tcp:127.0.0.1:7", "--timeout", "0"}, {"--timeout", "\"0\""}},
        UsageCase{kEchoClient, {"--connect", "tcp:127.0.0.1:7", "--timeout", "soon"}, {"--timeout", "\"soon\""}},
        UsageCase{kEchoClient, {"--connect", "tcp:127.0.0.1:7", "--spin-us", "abc"}, {"--spin-us", "\"abc\""}},
        UsageCase{kEchoClient, {"--connect", "tcp:127.0.0.1"}, {"--connect", "missing port"}},
        UsageCase{kEchoClient, {"--connect", "tcp:example.test:99999"}, {"--connect", "port out of range"}},
        UsageCase{kEchoClient, {"--connect", "tcp:bad_host!:80"}, {"--connect", "host name"}},
        UsageCase{kEchoClient, {"--connect", "udp:127.0.0.1:7"}, {"--connect", "udp:", "not supported"}},
        UsageCase{kEchoClient, {"--connect", "unixpacket:/tmp/x"}, {"--connect", "unixpacket:", "not supported"}},
        UsageCase{kEchoClient, {"--connect", "tcp:127.0.0.1:7", "--tls-ca", "ca.pem"}, {"--tls-ca", "tls:"}},
        UsageCase{kEchoClient,
                  {"--connect", "tcp:127.0.0.1:7", "--insecure-skip-verify"},
                  {"--insecure-skip-verify", "tls:"}},
        UsageCase{kEchoClient, {"--connect", "tls:127.0.0.1:7", "--tls-cert", "c.pem"}, {"--tls-cert", "--tls-key"}},
        UsageCase{kEchoClient,
                  {"--connect", "tls:127.0.0.1:7", "--insecure-skip-verify", "--tls-ca", "ca.pem"},
                  {"--insecure-skip-verify", "--tls-ca"}},
        UsageCase{kEchoClient, {"--connect", "tcp:127.0.0.1:7"}, {"RFARM_BACKEND=bogus"}, {"RFARM_BACKEND=bogus"}}));

INSTANTIATE_TEST_SUITE_P(
    Mcast, UsageErrorTest,
    ::testing::Values(
        UsageCase{kMcast, {}, {"subcommand"}},
        UsageCase{kMcast, {"fly", "239.1.2.3:5000"}, {"fly"}},
        UsageCase{kMcast, {"send"}, {"group"}},
        UsageCase{kMcast, {"send", "239.1.2.3", "hi"}, {"group", "missing port"}},
        UsageCase{kMcast, {"send", "10.0.0.1:5000", "hi"}, {"group", "not a multicast group"}},
        UsageCase{kMcast, {"send", "239.1.2.3:0", "hi"}, {"group", "port 0"}},
        UsageCase{kMcast, {"send", "239.1.2.3:5000"}, {"message is required"}},
        UsageCase{kMcast, {"send", "239.1.2.3:5000", "--ttl", "300", "hi"}, {"--ttl", "\"300\""}},
        UsageCase{kMcast, {"send", "239.1.2.3:5000", "--loop", "2", "hi"}, {"--loop", "\"2\""}},
        UsageCase{kMcast, {"send", "239.1.2.3:5000", "--bind", "1.2.3", "hi"}, {"--bind", "\"1.2.3\""}},
        UsageCase{kMcast, {"recv", "239.1.2.3:5000", "--count", "0"}, {"--count", "\"0\""}},
        UsageCase{kMcast, {"recv", "239.1.2.3:5000", "--source", "nonsense"}, {"--source", "\"nonsense\""}},
        UsageCase{kMcast, {"recv", "239.1.2.3:5000", "--source", "::1"}, {"--source", "family"}},
        UsageCase{kMcast, {"recv", "239.1.2.3:5000", "--backend", "kqueue"}, {"--backend", "kqueue"}},
        UsageCase{kMcast, {"recv", "239.1.2.3:5000"}, {"RFARM_BACKEND=bogus"}, {"RFARM_BACKEND=bogus"}}));

// --- what is not a usage error --------------------------------------------------------------------------------

TEST(ToolRuntimeErrorTest, McastUnknownInterfaceIsAFailureNamingTheOption) {
  PATH_OR_SKIP(program, kMcast);
  ToolRun r = run_tool({program, "recv", "239.1.2.3:5000", "--iface", "nosuchif0"}, {}, 10s);
  EXPECT_EQ(r.status, 1) << describe(r);
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("--iface nosuchif0"), std::string::npos) << r.err;
}

TEST(ToolRuntimeErrorTest, AnExplicitBackendOverridesABadRfarmBackend) {
  // RFARM_BACKEND is only consulted when --backend is not given, by the tools as by the reactor.
  PATH_OR_SKIP(program, kMcast);
  ToolRun r = run_tool({program, "recv", "239.1.2.3:5000", "--iface", "nosuchif0", "--backend", "epoll"},
                       {"RFARM_BACKEND=bogus"}, 10s);
  EXPECT_EQ(r.status, 1) << describe(r);
  EXPECT_EQ(r.err.find("RFARM_BACKEND"), std::string::npos) << r.err;
}

TEST(ToolRuntimeErrorTest, SubcommandHelpIsTheSubcommands) {
  PATH_OR_SKIP(program, kMcast);
  ToolRun r = run_tool({program, "recv", "--help"});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_NE(r.out.find("--source"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("--ttl"), std::string::npos) << "send's options are not recv's:\n" << r.out;
}

}  // namespace
}  // namespace rfarm::test
