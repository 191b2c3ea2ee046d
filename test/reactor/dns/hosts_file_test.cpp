// HostsFile: the hosts(5) parse behind ResolverOptions::hosts_file. Pure parsing, no reactor.
#include "reactor/dns/hosts_file.hpp"

#include <gtest/gtest.h>

namespace rfarm {
namespace {

Address ip(std::string_view text) { return Address::from_ip(text, 0).value(); }

TEST(HostsFileTest, FindsEveryAddressOfANameInFileOrder) {
  auto hosts = HostsFile::parse("127.0.0.1 localhost\n::1 localhost ip6-localhost\n127.0.0.1 localhost\n");
  EXPECT_EQ(hosts.find("localhost"), (std::vector<Address>{ip("127.0.0.1"), ip("::1")}));
  EXPECT_EQ(hosts.find("ip6-localhost"), std::vector<Address>{ip("::1")});
}

TEST(HostsFileTest, NamesMatchCaseInsensitively) {
  auto hosts = HostsFile::parse("10.1.2.3 Build.Example\n");
  EXPECT_EQ(hosts.find("build.example"), std::vector<Address>{ip("10.1.2.3")});
  EXPECT_TRUE(hosts.find("build").empty());
}

TEST(HostsFileTest, CommentsBlankLinesAndBadLinesAreSkipped) {
  auto hosts = HostsFile::parse(
      "# a comment\n"
      "\n"
      "   \t\n"
      "not-an-address name.test\n"
      "127.0.0.2\n"                            // no name
      "127.0.0.3\tTabbed.test\t# comment\r\n"  // tabs, trailing comment, CRLF
      "127.0.0.4 last.test");                  // no final newline
  EXPECT_TRUE(hosts.find("name.test").empty());
  EXPECT_EQ(hosts.find("tabbed.test"), std::vector<Address>{ip("127.0.0.3")});
  EXPECT_EQ(hosts.find("last.test"), std::vector<Address>{ip("127.0.0.4")});
  EXPECT_TRUE(hosts.find("comment").empty());
}

TEST(HostsFileTest, NameOfAnAddressIsTheCanonicalNameOfItsFirstLine) {
  auto hosts = HostsFile::parse("127.0.0.1 localhost loopback\n127.0.0.1 other\n::1 ip6-localhost\n");
  EXPECT_EQ(hosts.name_of(Address::loopback_v4(8080)), "localhost");  // the port does not matter
  EXPECT_EQ(hosts.name_of(ip("::1")), "ip6-localhost");
  EXPECT_EQ(hosts.name_of(ip("127.0.0.2")), "");
}

TEST(HostsFileTest, LoadingAMissingFileIsAnError) {
  auto hosts = HostsFile::load("/nonexistent/rfarm/hosts");
  ASSERT_FALSE(hosts);
  EXPECT_EQ(hosts.error(), std::errc::no_such_file_or_directory);
}

}  // namespace
}  // namespace rfarm
