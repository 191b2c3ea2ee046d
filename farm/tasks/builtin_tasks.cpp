#include "farm/tasks/builtin_tasks.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <thread>
#include <variant>

#include "farm/values/values.hpp"

namespace rfarm::farm {
namespace {

using Number = std::variant<std::int64_t, double>;

std::expected<Number, TaskFailure> add(Args args) {
  // 128 bits cannot overflow on fewer than 2^64 int64 terms: only the final sum must fit (2^62 + 2^62 - 2^62 is
  // fine).
  __int128 int_sum = 0;
  double float_sum = 0;
  bool any_float = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    Value v = args[i];
    switch (v.kind()) {
      case ValueKind::integer: {
        auto n = v.as<std::int64_t>();  // an unsigned above INT64_MAX does not fit
        if (!n)
          return std::unexpected(TaskFailure{FailureKind::bad_arguments, n.error().describe_argument(i + 1, "add")});
        int_sum += *n;
        float_sum += static_cast<double>(*n);
        break;
      }
      case ValueKind::floating:
        any_float = true;
        float_sum += *v.as<double>();
        break;
      default:
        return std::unexpected(TaskFailure{
            FailureKind::bad_arguments,
            fmt::format("argument {} of 'add': expected number, got {}", i + 1, to_string(v.kind()))});
    }
  }
  if (any_float) return Number(float_sum);
  if (int_sum > std::numeric_limits<std::int64_t>::max() || int_sum < std::numeric_limits<std::int64_t>::min())
    return std::unexpected(TaskFailure{FailureKind::task_error, "add: the integer sum overflows int64"});
  return Number(static_cast<std::int64_t>(int_sum));
}

Args echo(Args args) { return args; }

std::expected<Null, TaskFailure> sleep_ms(TaskContext& context, std::int64_t ms) {
  constexpr std::int64_t kMaxMs = 24 * 60 * 60 * 1000;
  if (ms < 0 || ms > kMaxMs)
    return std::unexpected(TaskFailure{
        FailureKind::bad_arguments, fmt::format("argument 1 of 'sleep_ms': {} is not between 0 and {}", ms, kMaxMs)});
  // Sleep in slices so that a cancel or a deadline ends the task within ~10 ms.
  constexpr auto kSlice = std::chrono::milliseconds(10);
  auto start = std::chrono::steady_clock::now();
  auto until = start + std::chrono::milliseconds(ms);
  for (;;) {
    if (context.cancel_requested()) return std::unexpected(TaskFailure{FailureKind::cancelled, "sleep_ms: cancelled"});
    if (context.deadline_passed())
      return std::unexpected(TaskFailure{FailureKind::deadline_exceeded, "sleep_ms: the deadline passed"});
    auto now = std::chrono::steady_clock::now();
    if (now >= until) return Null{};
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(until - now, kSlice));
  }
}

std::expected<void, std::string> fail(std::string message) { return std::unexpected(std::move(message)); }

// What info reports, as a record.
struct InfoReport {
  std::string version;
  unsigned cores = 0;
  unsigned workers = 0;
  std::vector<ModuleInfo> modules;
  std::int64_t uptime_ms = 0;
  std::uint64_t tasks_run = 0;
};

std::expected<InfoReport, std::string> info(TaskContext& context) {
  const ServerInfo* server = context.server();
  if (!server) return std::unexpected(std::string("info: this task is not running in a farm server"));
  return InfoReport{server->version(), server->cores(),       server->workers(),
                    server->modules(), server->uptime().count(), server->tasks_run()};
}

}  // namespace

// What info returns, as a record.
template <>
struct ValueTraits<InfoReport> {
  static void write(flexbuffers::Builder& b, const InfoReport& r) {
    b.Map([&] {
      write_field(b, "version", r.version);
      write_field(b, "cores", r.cores);
      write_field(b, "workers", r.workers);
      write_field(b, "modules", r.modules);
      write_field(b, "uptime_ms", r.uptime_ms);
      write_field(b, "tasks_run", r.tasks_run);
    });
  }
};

FarmResult<void> register_builtin_tasks(TaskRegistry& registry) {
  constexpr std::string_view kOrigin = "builtin";
  if (auto r = registry.add("add", &add, TaskFlags::may_run_inline, kOrigin); !r) return r;
  if (auto r = registry.add("echo", &echo, TaskFlags::may_run_inline, kOrigin); !r) return r;
  if (auto r = registry.add("sleep_ms", &sleep_ms, TaskFlags::none, kOrigin); !r) return r;
  if (auto r = registry.add("fail", &fail, TaskFlags::may_run_inline, kOrigin); !r) return r;
  return registry.add("info", &info, TaskFlags::may_run_inline, kOrigin);
}

}  // namespace rfarm::farm
