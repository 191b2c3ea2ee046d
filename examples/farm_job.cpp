// The farm's quick-start job: a Kernel counts the primes below 2*10^7 on every server it is given, in 200 chunks
// with pmap (the example task module's count_primes), then times 100,000 trivial tasks to show the farm's rate.
//
//   build/examples/example-farm-job tcp:127.0.0.1:PORT [SERVER...]   # farm-servers with libexample_tasks.so
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <tuple>
#include <vector>

#include "farm/client/kernel.hpp"
#include "farm/client/parallel.hpp"

using namespace std::chrono_literals;
using rfarm::farm::Kernel;
using Range = std::tuple<std::int64_t, std::int64_t>;  // one task's arguments: [lo, hi)

static double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int main(int argc, char** argv) {
  rfarm::farm::KernelOptions options;
  options.servers.assign(argv + 1, argv + argc);
  auto kernel = Kernel::start(options);  // connects to every server, and keeps reconnecting if one goes away
  if (options.servers.empty() || !kernel) {
    std::fprintf(stderr, "usage: example-farm-job SERVER...  (e.g. tcp:127.0.0.1:7000)\n");
    return 2;
  }
  if (!kernel->wait_ready(options.servers.size(), 10s)) {
    std::fprintf(stderr, "example-farm-job: not every server answered within 10 s\n");
    return 1;
  }
  try {
    constexpr std::int64_t kLimit = 20'000'000, kChunks = 200;
    std::vector<Range> chunks;
    for (std::int64_t i = 0; i < kChunks; ++i) chunks.emplace_back(kLimit * i / kChunks, kLimit * (i + 1) / kChunks);
    auto start = std::chrono::steady_clock::now();
    auto primes = rfarm::farm::pmap_reduce<std::int64_t>(*kernel, "count_primes", chunks, std::plus<>(), 0);
    std::printf("primes below %lld: %lld (%lld tasks on %zu servers in %.2f s)\n", static_cast<long long>(kLimit),
                static_cast<long long>(primes), static_cast<long long>(kChunks), options.servers.size(),
                seconds_since(start));

    std::vector<Range> pairs(100'000, Range{20, 22});
    start = std::chrono::steady_clock::now();
    std::vector<std::int64_t> sums = rfarm::farm::pmap<std::int64_t>(*kernel, "add", pairs);
    double elapsed = seconds_since(start);
    for (std::int64_t s : sums)
      if (s != 42) return 1;
    std::printf("%zu add tasks in %.3f s: %.0f tasks/s\n", sums.size(), elapsed, static_cast<double>(sums.size()) / elapsed);
  } catch (const rfarm::farm::TaskExecutionError& e) {  // a remote failure, with the server's message
    std::fprintf(stderr, "example-farm-job: %s\n", e.what());
    return 1;
  }
  return 0;
}
