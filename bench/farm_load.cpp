// farm_load.cpp - the load client of bench/run's farm scenario (bench/harness/farm.py): a Kernel
// (farm/client/) driving farm-servers with the builtin trivial task add(a, b).
//
//   farm_load --server SPEC [--server SPEC] --mode throughput|latency|broadcast --tasks N [--spin-us N] --json
//
//   throughput  N tasks submitted through one Channel, at most four windows per server ahead of the results, and
//               every result received and checked; timed from the first submit to the last result.
//               JSON: {"tasks", "seconds", "tasks_per_s"}
//   latency     N sequential single-task round trips (submit, receive) after a short warm-up.
//               JSON: {"tasks", "p50_us", "p99_us", "mean_us"}
//   broadcast   N sequential broadcasts of add to every server, each waiting for every answer. JSON as latency.
//
// --spin-us goes to the kernel's engine reactor (KernelOptions::spin): it polls for that long before sleeping.
// The calling thread itself does not spin: it blocks in the channel (or the broadcast) until the engine hands
// it the result. With --json the last stdout line is the JSON object, otherwise one readable line. A failure
// (a server that never answers, a wrong sum, a remote error) is one line on stderr and exit status 1; a usage
// error exit status 2 (tools/cli.hpp).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "farm/client/channel.hpp"
#include "farm/client/kernel.hpp"
#include "tools/cli.hpp"

using namespace rfarm;
using namespace rfarm::farm;
using namespace std::chrono_literals;

namespace {

constexpr const char* kTool = "farm_load";
constexpr std::uint64_t kWarmup = 200;  // round trips before latency is measured: connections and caches warm
constexpr auto kReadyTimeout = 10s;

using Clock = std::chrono::steady_clock;

// Thrown out of a mode on the first failure; main prints it as the one stderr line.
struct LoadFailure {
  std::string message;
};

struct LatencySummary {
  double p50_us, p99_us, mean_us;
};

LatencySummary summarize(std::vector<double>& samples_us) {
  std::sort(samples_us.begin(), samples_us.end());
  auto at = [&](double q) {
    auto i = static_cast<std::size_t>(q * static_cast<double>(samples_us.size() - 1) + 0.5);
    return samples_us[std::min(i, samples_us.size() - 1)];
  };
  double sum = 0;
  for (double s : samples_us) sum += s;
  return {at(0.50), at(0.99), sum / static_cast<double>(samples_us.size())};
}

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// The sum a result must be, or LoadFailure naming what came back instead.
void check_sum(const RemoteResult& r, std::int64_t expected) {
  auto sum = result_as<std::int64_t>(r, "add");
  if (!sum) throw LoadFailure{describe(sum.error())};
  if (*sum != expected)
    throw LoadFailure{"add returned " + std::to_string(*sum) + ", expected " + std::to_string(expected)};
}

// Task i is add(i, i): its result 2i says which task answered, so every task is checked to have answered exactly
// once although a channel gives results in completion order. At most `ahead` tasks are outstanding: submitting all
// N before receiving piles every record into the engine's inbox and pending queue (tens of MB for 10^6 tasks,
// regrown as it fills), which measured 1.7-2.5x slower on 200,000 tasks than a few windows ahead.
double run_throughput(Kernel& kernel, std::uint64_t tasks, std::uint64_t ahead) {
  Channel channel(kernel);
  std::vector<bool> answered(tasks, false);
  std::uint64_t submitted = 0;
  auto start = Clock::now();
  for (std::uint64_t received = 0; received < tasks; ++received) {
    for (; submitted < tasks && submitted - received < ahead; ++submitted)
      channel.submit("add", static_cast<std::int64_t>(submitted), static_cast<std::int64_t>(submitted));
    RemoteResult r = channel.receive_outcome();
    auto sum = result_as<std::int64_t>(r, "add");
    if (!sum) throw LoadFailure{describe(sum.error())};
    auto task = static_cast<std::uint64_t>(*sum / 2);
    if (*sum < 0 || *sum % 2 != 0 || task >= tasks || answered[task])
      throw LoadFailure{"add returned " + std::to_string(*sum) + ", which no unanswered task add(i, i) can return"};
    answered[task] = true;
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<double> run_latency(Kernel& kernel, std::uint64_t tasks) {
  Channel channel(kernel);
  std::vector<double> samples_us;
  samples_us.reserve(tasks);
  for (std::uint64_t i = 0; i < kWarmup + tasks; ++i) {
    auto a = static_cast<std::int64_t>(i);
    auto start = Clock::now();
    channel.submit("add", a, std::int64_t{1});
    RemoteResult r = channel.receive_outcome();
    auto elapsed = Clock::now() - start;
    check_sum(r, a + 1);
    if (i >= kWarmup) samples_us.push_back(micros(elapsed));
  }
  return samples_us;
}

std::vector<double> run_broadcast(Kernel& kernel, std::uint64_t tasks, std::size_t servers) {
  std::vector<double> samples_us;
  samples_us.reserve(tasks);
  for (std::uint64_t i = 0; i < tasks; ++i) {
    auto a = static_cast<std::int64_t>(i);
    auto start = Clock::now();
    std::vector<RemoteResult> results = kernel.broadcast_outcomes("add", a, std::int64_t{1});
    auto elapsed = Clock::now() - start;
    if (results.size() != servers)
      throw LoadFailure{"broadcast answered by " + std::to_string(results.size()) + " of " + std::to_string(servers) +
                        " servers"};
    for (const RemoteResult& r : results) check_sum(r, a + 1);
    samples_us.push_back(micros(elapsed));
  }
  return samples_us;
}

}  // namespace

int main(int argc, char** argv) {
  tools::CommandLine cli(kTool, "Drives farm-servers with trivial add tasks and reports their rate or latency "
                                "(bench/run's farm scenario).");
  CLI::App& app = cli.app();
  std::vector<std::string> servers;
  std::string mode;
  std::uint64_t tasks = 0;
  bool json = false;
  app.add_option("--server", servers, "A farm-server: tcp:HOST:PORT, HOST:PORT, unix:PATH (repeatable)")
      ->type_name("SPEC")
      ->allow_extra_args(false)
      ->required()
      ->check([](const std::string& text) {
        auto spec = EndpointSpec::parse_connect(text);
        return spec ? std::string() : "'" + text + "': " + spec.error().message();
      });
  app.add_option("--mode", mode, "throughput, latency or broadcast")
      ->required()
      ->check(CLI::IsMember({"throughput", "latency", "broadcast"}));
  app.add_option("--tasks", tasks, "Tasks (throughput, latency) or broadcasts")
      ->required()
      ->check(tools::positive_integer());
  app.add_flag("--json", json, "Print the result as one JSON line");
  cli.add_reactor_options();  // --spin-us: the engine's reactor polls before it sleeps
  if (auto status = cli.parse(argc, argv)) return *status;

  KernelOptions options;
  options.servers = servers;
  options.backend = cli.reactor_options().backend;
  options.spin = cli.reactor_options().spin;
  options.log_level = cli.reactor_options().log_level.value_or(LogLevel::error);
  options.client_name = kTool;
  // A bench must end: a task that finds no server for this long fails instead of being retried forever.
  options.default_policy.fail_after = 30s;
  options.call_timeout = 30s;
  auto kernel = Kernel::start(options);
  if (!kernel) return tools::report_failure(kTool, "cannot start the kernel: " + kernel.error().message());
  if (!kernel->wait_ready(servers.size(), kReadyTimeout))
    return tools::report_failure(kTool, "not every server was ready within 10 s");

  try {
    if (mode == "throughput") {
      // Four windows per server: every connection stays full while this thread encodes the next tasks.
      double seconds = run_throughput(*kernel, tasks, 4 * options.window * servers.size());
      double rate = static_cast<double>(tasks) / seconds;
      if (json) std::printf("{\"tasks\": %llu, \"seconds\": %.6f, \"tasks_per_s\": %.1f}\n",
                            static_cast<unsigned long long>(tasks), seconds, rate);
      else std::printf("%llu tasks in %.3f s: %.0f tasks/s\n", static_cast<unsigned long long>(tasks), seconds, rate);
    } else {
      std::vector<double> samples = mode == "latency" ? run_latency(*kernel, tasks)
                                                      : run_broadcast(*kernel, tasks, servers.size());
      LatencySummary s = summarize(samples);
      if (json) std::printf("{\"tasks\": %llu, \"p50_us\": %.2f, \"p99_us\": %.2f, \"mean_us\": %.2f}\n",
                            static_cast<unsigned long long>(tasks), s.p50_us, s.p99_us, s.mean_us);
      else std::printf("%llu %s: p50 %.1f us, p99 %.1f us, mean %.1f us\n", static_cast<unsigned long long>(tasks),
                       mode == "latency" ? "round trips" : "broadcasts", s.p50_us, s.p99_us, s.mean_us);
    }
  } catch (const LoadFailure& e) {
    return tools::report_failure(kTool, e.message);
  } catch (const TaskExecutionError& e) {
    return tools::report_failure(kTool, e.what());
  }
  return tools::kExitSuccess;
}
