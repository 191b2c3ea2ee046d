// Resolver against real peers: hosts files the tests write, and a real DNS server (dnsmasq on a loopback port)
// with canned records. Every resolver here asks loopback servers only and searches no domains, so no query
// ever leaves the machine.
#include "reactor/dns/resolver.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "test/support/backend_fixture.hpp"
#include "test/support/dns_server.hpp"

namespace rfarm::test {
namespace {

Address ip(std::string_view text, std::uint16_t port = 0) { return Address::from_ip(text, port).value(); }

std::set<std::string> texts(const std::vector<Address>& addresses) {
  std::set<std::string> out;
  for (const Address& a : addresses) out.insert(a.to_string());
  return out;
}

Task<Result<std::vector<Address>>> lookup(Resolver& resolver, std::string host, std::string service = {},
                                          ResolveOptions options = {}) {
  co_return co_await resolver.resolve(host, service, options);
}

Task<Result<std::string>> reverse_lookup(Resolver& resolver, Address address) {
  co_return co_await resolver.reverse(address);
}

class ResolverTest : public BackendTest {
 protected:
  void TearDown() override {
    for (const std::string& path : files_) ::unlink(path.c_str());
    BackendTest::TearDown();
  }

  // Unless the test names its servers, a loopback socket that never answers stands in for DNS (with a short
  // timeout), so a name missing from a test's hosts file fails fast and nothing leaves the machine.
  std::unique_ptr<Resolver> make_resolver(ResolverOptions options = {}) {
    options.search_domains = std::vector<std::string>{};
    if (options.servers.empty()) {
      options.servers = {silent_.address()};
      if (options.attempt_timeout.count() == 0) options.attempt_timeout = std::chrono::milliseconds(200);
      if (options.tries == 0) options.tries = 1;
    }
    auto resolver = Resolver::create(reactor(), options);
    EXPECT_TRUE(resolver) << resolver.error().message();
    return resolver ? std::move(*resolver) : nullptr;
  }

  std::string write_hosts(std::string_view text) {
    char path[] = "/tmp/rfarm-hosts-XXXXXX";
    int fd = ::mkstemp(path);
    EXPECT_GE(fd, 0);
    ::close(fd);
    std::ofstream(path) << text;
    files_.emplace_back(path);
    return path;
  }

  // A dnsmasq with the records the DNS tests share; skips the test if dnsmasq is missing.
  std::optional<DnsServer> start_dns() {
    auto server = DnsServer::start({
        "--host-record=multi.test,127.0.0.1",
        "--host-record=multi.test,127.0.0.2",
        "--host-record=dual.test,127.0.0.3,::3",
        "--host-record=v6only.test,::2",
        "--host-record=rev.test,127.0.0.9",
    });
    if (!server) {
      skip_reason_ = server.error();
      return std::nullopt;
    }
    return std::move(*server);
  }

  SilentUdpServer silent_;
  std::string skip_reason_;
  std::vector<std::string> files_;
};

#define START_DNS_OR_SKIP(var)                       \
  auto var = start_dns();                            \
  if (!var) GTEST_SKIP() << skip_reason_;

TEST_P(ResolverTest, HostsFileGivesEveryAddressOfLocalhost) {
  auto resolver = make_resolver({.hosts_file = write_hosts("127.0.0.1 localhost\n::1 localhost ip6-localhost\n")});
  auto result = run(lookup(*resolver, "localhost", "7000"));
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(*result, (std::vector<Address>{ip("127.0.0.1", 7000), ip("::1", 7000)}));
}

TEST_P(ResolverTest, HostsFileMatchesAliasesAndFiltersFamilies) {
  auto resolver = make_resolver(
      {.hosts_file = write_hosts("# test hosts\n127.0.0.5 hosts.test alias.test  # trailing comment\n"
                                 "::5 hosts.test\n")});
  auto v4 = run(lookup(*resolver, "ALIAS.test", "", {.family = AddressFamily::ipv4}));
  ASSERT_TRUE(v4) << v4.error().message();
  EXPECT_EQ(*v4, std::vector<Address>{ip("127.0.0.5")});
  auto v6 = run(lookup(*resolver, "hosts.test", "", {.family = AddressFamily::ipv6}));
  ASSERT_TRUE(v6) << v6.error().message();
  EXPECT_EQ(*v6, std::vector<Address>{ip("::5")});
}

TEST_P(ResolverTest, ServiceNamesAndNumbersBecomePorts) {
  EXPECT_EQ(Resolver::service_port("http").value_or(0), 80);
  EXPECT_EQ(Resolver::service_port("8080").value_or(0), 8080);
  EXPECT_EQ(Resolver::service_port("").value_or(1), 0);
  EXPECT_EQ(Resolver::service_port("70000").error(), std::errc::invalid_argument);
  EXPECT_EQ(Resolver::service_port("no-such-service").error(), Errc::service_not_found);

  auto resolver = make_resolver({.hosts_file = write_hosts("127.0.0.1 localhost\n")});
  auto http = run(lookup(*resolver, "localhost", "http"));
  ASSERT_TRUE(http) << http.error().message();
  EXPECT_EQ(*http, std::vector<Address>{ip("127.0.0.1", 80)});
  auto bad = run(lookup(*resolver, "localhost", "no-such-service"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), Errc::service_not_found);
}

TEST_P(ResolverTest, IpLiteralAnswersItself) {
  auto resolver = make_resolver();
  auto v6 = run(lookup(*resolver, "::1", "53"));
  ASSERT_TRUE(v6) << v6.error().message();
  EXPECT_EQ(*v6, std::vector<Address>{ip("::1", 53)});
  auto wrong_family = run(lookup(*resolver, "127.0.0.1", "", {.family = AddressFamily::ipv6}));
  ASSERT_FALSE(wrong_family);
  EXPECT_EQ(wrong_family.error(), Errc::no_address);
}

TEST_P(ResolverTest, CallbackRunsOnALaterTurnNotInsideTheCall) {
  auto resolver = make_resolver({.hosts_file = write_hosts("127.0.0.1 localhost\n")});
  std::optional<Result<std::vector<Address>>> got;
  LookupId id = resolver->async_resolve("localhost", "", {}, [&](Result<std::vector<Address>> r) { got = std::move(r); });
  EXPECT_NE(id, 0u);
  EXPECT_FALSE(got) << "the handler ran inside async_resolve";
  ASSERT_TRUE(run_until([&] { return got.has_value(); }));
  ASSERT_TRUE(*got) << got->error().message();
  EXPECT_EQ(**got, std::vector<Address>{ip("127.0.0.1")});
}

TEST_P(ResolverTest, DnsAnswerWithSeveralAddressesGivesThemAll) {
  START_DNS_OR_SKIP(dns);
  auto resolver = make_resolver({.servers = {dns->address()}});
  auto result = run(lookup(*resolver, "multi.test", "80"));
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(texts(*result), (std::set<std::string>{"127.0.0.1:80", "127.0.0.2:80"}));
}

TEST_P(ResolverTest, DnsGivesBothFamiliesOrTheOneAskedFor) {
  START_DNS_OR_SKIP(dns);
  auto resolver = make_resolver({.servers = {dns->address()}});
  auto both = run(lookup(*resolver, "dual.test"));
  ASSERT_TRUE(both) << both.error().message();
  EXPECT_EQ(texts(*both), (std::set<std::string>{"127.0.0.3:0", "[::3]:0"}));
  auto v6 = run(lookup(*resolver, "dual.test", "", {.family = AddressFamily::ipv6}));
  ASSERT_TRUE(v6) << v6.error().message();
  EXPECT_EQ(*v6, std::vector<Address>{ip("::3")});
}

TEST_P(ResolverTest, NxdomainIsHostNotFound) {
  START_DNS_OR_SKIP(dns);
  auto resolver = make_resolver({.servers = {dns->address()}});
  auto result = run(lookup(*resolver, "nothing-here.test"));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), Errc::host_not_found) << result.error().message();
}

TEST_P(ResolverTest, NameWithoutRecordsOfTheFamilyIsNoAddress) {
  START_DNS_OR_SKIP(dns);
  auto resolver = make_resolver({.servers = {dns->address()}});
  auto v4 = run(lookup(*resolver, "v6only.test", "", {.family = AddressFamily::ipv4}));
  ASSERT_FALSE(v4);
  EXPECT_EQ(v4.error(), Errc::no_address) << v4.error().message();
  auto any = run(lookup(*resolver, "v6only.test"));
  ASSERT_TRUE(any) << any.error().message();
  EXPECT_EQ(*any, std::vector<Address>{ip("::2")});
}

TEST_P(ResolverTest, RefusedQueryIsNameServerFailure) {
  START_DNS_OR_SKIP(dns);  // dnsmasq refuses names outside its own records: it has no upstream to ask
  auto resolver = make_resolver({.servers = {dns->address()}});
  auto result = run(lookup(*resolver, "elsewhere.example"));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), Errc::name_server_failure) << result.error().message();
}

TEST_P(ResolverTest, ReverseLookupFindsTheNameInDnsOrTheHostsFile) {
  START_DNS_OR_SKIP(dns);
  auto resolver = make_resolver({.servers = {dns->address()}, .hosts_file = write_hosts("127.0.0.8 file.test\n")});
  auto from_dns = run(reverse_lookup(*resolver, ip("127.0.0.9", 1234)));
  ASSERT_TRUE(from_dns) << from_dns.error().message();
  EXPECT_EQ(*from_dns, "rev.test");
  auto from_file = run(reverse_lookup(*resolver, ip("127.0.0.8")));
  ASSERT_TRUE(from_file) << from_file.error().message();
  EXPECT_EQ(*from_file, "file.test");
  auto unknown = run(reverse_lookup(*resolver, ip("127.0.0.77")));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error(), Errc::host_not_found) << unknown.error().message();
}

TEST_P(ResolverTest, ManyConcurrentLookupsAllComplete) {
  START_DNS_OR_SKIP(dns);
  auto resolver = make_resolver({.servers = {dns->address()}});
  constexpr int kLookups = 32;
  int ok = 0, done = 0;
  for (int i = 0; i < kLookups; ++i) {
    resolver->async_resolve(i % 2 ? "multi.test" : "dual.test", "", {}, [&](Result<std::vector<Address>> r) {
      ++done;
      if (r && r->size() == 2) ++ok;
    });
  }
  EXPECT_EQ(resolver->running(), static_cast<std::size_t>(kLookups));
  ASSERT_TRUE(run_until([&] { return done == kLookups; }));
  EXPECT_EQ(ok, kLookups);
  EXPECT_EQ(resolver->running(), 0u);
}

TEST_P(ResolverTest, UnansweredQueryTimesOut) {
  auto resolver = make_resolver({.attempt_timeout = std::chrono::milliseconds(50), .tries = 1});
  auto result = run(lookup(*resolver, "silence.test"));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), std::errc::timed_out) << result.error().message();
}

TEST_P(ResolverTest, LookupDeadlineEndsALookupCAresWouldStillRetry) {
  auto resolver = make_resolver({.attempt_timeout = std::chrono::seconds(30), .tries = 3,
                                 .lookup_timeout = std::chrono::milliseconds(50)});
  auto result = run(lookup(*resolver, "silence.test"));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), std::errc::timed_out) << result.error().message();
  EXPECT_EQ(resolver->running(), 0u);
  // A per-lookup deadline overrides the resolver's.
  auto own = run(lookup(*resolver, "silence.test", "", {.timeout = std::chrono::milliseconds(20)}));
  ASSERT_FALSE(own);
  EXPECT_EQ(own.error(), std::errc::timed_out);
}

TEST_P(ResolverTest, CancellingOneLookupLeavesTheOthersRunning) {
  auto resolver = make_resolver({.attempt_timeout = std::chrono::seconds(30), .tries = 1});
  std::optional<Result<std::vector<Address>>> first, second;
  LookupId a = resolver->async_resolve("one.test", "", {}, [&](auto r) { first = std::move(r); });
  LookupId b = resolver->async_resolve("two.test", "", {}, [&](auto r) { second = std::move(r); });
  ASSERT_NE(a, b);
  EXPECT_TRUE(resolver->cancel(a));
  EXPECT_FALSE(resolver->cancel(a)) << "a lookup is cancelled once";
  ASSERT_TRUE(run_until([&] { return first.has_value(); }));
  ASSERT_FALSE(*first);
  EXPECT_EQ(first->error(), std::errc::operation_canceled);
  EXPECT_FALSE(second.has_value());
  EXPECT_EQ(resolver->running(), 1u);
  EXPECT_EQ(resolver->cancel_all(), 1u);
  ASSERT_TRUE(run_until([&] { return second.has_value(); }));
  EXPECT_EQ(second->error(), std::errc::operation_canceled);
}

TEST_P(ResolverTest, AwaitedLookupCanBeCancelledById) {
  auto resolver = make_resolver({.attempt_timeout = std::chrono::seconds(30), .tries = 1});
  auto task = [](Reactor& r, Resolver& res) -> Task<Result<std::vector<Address>>> {
    auto pending = res.resolve("slow.test");
    r.after(std::chrono::milliseconds(1), [&res, id = pending.id()] { res.cancel(id); });
    co_return co_await pending;
  };
  auto result = run(task(reactor(), *resolver));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), std::errc::operation_canceled);
}

TEST_P(ResolverTest, DestroyingTheResolverCancelsEveryLookup) {
  auto resolver = make_resolver({.attempt_timeout = std::chrono::seconds(30), .tries = 1});
  std::optional<Result<std::vector<Address>>> by_callback;
  std::optional<Result<std::string>> by_coroutine;
  resolver->async_resolve("gone.test", "", {}, [&](auto r) { by_callback = std::move(r); });
  reactor().spawn([](Resolver& res, std::optional<Result<std::string>>& out) -> Task<void> {
    out = co_await res.reverse(Address::from_ip("127.0.0.66", 0).value());
  }(*resolver, by_coroutine));
  run_for(std::chrono::milliseconds(5));  // the queries are out on the wire
  EXPECT_FALSE(by_callback || by_coroutine);
  resolver.reset();
  EXPECT_FALSE(by_callback || by_coroutine) << "completions never run inside the destructor";
  ASSERT_TRUE(run_until([&] { return by_callback && by_coroutine; }));
  EXPECT_EQ(by_callback->error(), std::errc::operation_canceled);
  EXPECT_EQ(by_coroutine->error(), std::errc::operation_canceled);
}

TEST_P(ResolverTest, DroppedAwaitableIgnoresTheLateAnswer) {
  START_DNS_OR_SKIP(dns);
  auto resolver = make_resolver({.servers = {dns->address()}});
  {
    auto abandoned = resolver->resolve("multi.test");
    EXPECT_EQ(resolver->running(), 1u);
  }
  EXPECT_EQ(resolver->running(), 0u);
  // The answer to the dropped lookup still arrives; a later lookup works alongside it.
  auto result = run(lookup(*resolver, "dual.test"));
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->size(), 2u);
}

RFARM_INSTANTIATE_BACKEND_TESTS(ResolverTest);

}  // namespace
}  // namespace rfarm::test
