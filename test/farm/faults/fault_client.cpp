// fault_client SPEC COUNT SLEEP_MS: a farm client process for the client-kill case. Connects a Kernel to SPEC,
// submits COUNT sleep_ms(SLEEP_MS) tasks, prints "in-flight N" once the server holds a full window of them
// queued, then waits (at most 60 s) to be killed. Exit status 2 on a usage or connection error.
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "farm/client/kernel.hpp"

using namespace rfarm;
using namespace rfarm::farm;
using namespace std::chrono_literals;

namespace {
class Discard final : public ResultSink {
 public:
  void complete(std::uint64_t, RemoteResult) override {}
};
}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: fault_client SPEC COUNT SLEEP_MS\n");
    return 2;
  }
  KernelOptions o;
  o.servers = {argv[1]};
  o.log_level = LogLevel::error;
  auto kernel = Kernel::start(o);
  if (!kernel || !kernel->wait_ready(1, 10s)) {
    std::fprintf(stderr, "fault_client: no server at %s\n", argv[1]);
    return 2;
  }
  const long count = std::strtol(argv[2], nullptr, 10);
  const std::int64_t sleep_ms = std::strtol(argv[3], nullptr, 10);
  auto sink = std::make_shared<Discard>();
  std::vector<TaskRecord> records;
  for (long i = 0; i < count; ++i)
    records.push_back(Kernel::make_record("sleep_ms", encode_args(sleep_ms), o.default_policy, sink,
                                          static_cast<std::uint64_t>(i)));
  kernel->submit_many(std::move(records));
  for (int i = 0; i < 1000 && kernel->stats().in_flight < o.window; ++i) std::this_thread::sleep_for(10ms);
  std::printf("in-flight %zu\n", kernel->stats().in_flight);
  std::fflush(stdout);
  std::this_thread::sleep_for(60s);
  return 0;
}
