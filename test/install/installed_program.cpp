// A program that uses rfarm the way a project outside this repository does: test/install/install_test.py
// compiles and links it against the installed tree only (pkg-config rfarm rfarm-farm after meson install
// --destdir), then runs it. It touches both libraries: a reactor with a timer and a coroutine, an endpoint spec,
// a farm value through the codec and its verifier.
#include <chrono>
#include <cstdio>
#include <map>
#include <string>

#include "farm/values/values.hpp"
#include "lib/task.hpp"
#include "reactor/loop/reactor.hpp"
#include "reactor/net/endpoint.hpp"

using namespace rfarm;
using namespace std::chrono_literals;

namespace {

Task<int> twice(int x) { co_return 2 * x; }

}  // namespace

int main() {
  auto reactor = Reactor::create();
  if (!reactor) {
    std::fprintf(stderr, "Reactor::create: %s\n", reactor.error().message().c_str());
    return 1;
  }
  bool fired = false;
  (*reactor)->after(1ms, [&] {
    fired = true;
    (*reactor)->stop();
  });
  (*reactor)->run();
  int doubled = (*reactor)->block_on(twice(21));

  auto spec = EndpointSpec::parse("tcp:127.0.0.1:0");
  auto bytes = farm::encode_value(std::map<std::string, int>{{"answer", doubled}});
  auto decoded = farm::decode_value<std::map<std::string, int>>(farm::as_const_bytes(bytes));
  if (!fired || !spec || !decoded || decoded->at("answer") != 42) {
    std::fprintf(stderr, "unexpected: fired=%d spec=%d decoded=%d\n", fired, bool(spec), bool(decoded));
    return 1;
  }
  std::printf("installed rfarm works: %s, answer %d\n", spec->to_string().c_str(), decoded->at("answer"));
  return 0;
}
