// cross_core_bench.cpp - messages between two reactors of a Runtime, next to a mutex + condition-variable
// queue between two plain threads, in the same run.
//
//   cross_core_bench [--messages N] [--batch B] [--window W] [--round-trips R] [--reps K]
//                    [--backend epoll|uring|auto] [--spin-us S] [--no-pin] [--json FILE] [--only NAME]
//
// Throughput: N messages from one side to the other, each a type-erased call carrying a sequence number (the
// receiver checks the order). The sender sends B per loop turn (runtime) or per lock (batched queue) and keeps
// at most W (default 8 B) unacknowledged (the receiver acknowledges every B; the blocking queue holds W), so
// every variant has the same window.
//   runtime          Runtime::post from core 0 to core 1: the pair's lock-free queue, published once per
//                    turn, at most one wake-up per batch.
//   mutex-cv         the textbook bounded blocking queue: lock, push one std::function, unlock, notify; the
//                    consumer locks and pops one at a time, sleeping on the condition variable when empty.
//   mutex-cv-batch   the same queue used well: B pushed under one lock and one notify, the consumer swaps
//                    the whole queue out under one lock.
// Round trip: R ping-pongs (core 0 -> core 1 -> core 0), after R/10 unmeasured; median, p99, mean.
//   runtime-<wake>   both reactors sleep between messages; woken through eventfd or, between two io_uring
//                    reactors, IORING_OP_MSG_RING (Backend::wake_peer)
//   runtime-spin     ReactorOptions::spin (--spin-us, default 1000): a reactor polls its queues for up to that
//                    long before it sleeps (the window adapts, see reactor.hpp), so a busy pair is never woken
//   mutex-cv         two threads, one mutex, two condition variables (each side sleeps until its turn)
// Both sides are pinned to the first two CPUs the process may use (the runtime's cores and the plain
// threads alike) unless --no-pin. Medians over K repetitions, interleaved, are printed with the ratios the
// issue sets targets for: runtime throughput / mutex-cv throughput (>= 5), mutex-cv round trip / spin round
// trip (>= 5). Next to each: the CPU time of the whole process per message / per round trip (getrusage), the
// figure a shared machine disturbs least. --json writes every repetition's figures, the medians and the
// ratios. The baseline's code is in cross_core_baseline.hpp.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/cross_core_baseline.hpp"
#include "reactor/runtime/runtime.hpp"

using namespace rfarm;
using namespace std::chrono_literals;
using cross_core_bench::QueueRun;
using cross_core_bench::SteadyClock;

namespace {

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "cross_core_bench: %s\n", why.c_str());
  std::exit(1);
}

struct Options {
  std::uint64_t messages = 2'000'000;
  std::uint64_t batch = 256;
  std::uint64_t window = 0;  // 0: 8 * batch
  int round_trips = 20'000;
  int reps = 3;
  BackendKind backend = BackendKind::automatic;
  std::chrono::microseconds spin{1000};
  bool pin = true;
  std::string json;
  std::string only;  // run only the variants whose name contains this (for profiling one of them)
};

// CPU time of the whole process (every thread), for CPU per message: the figure a busy machine disturbs least.
double process_cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

// A throughput measurement: messages per second of wall time, and CPU nanoseconds per message.
struct Rate {
  double per_s = 0;
  double cpu_ns = 0;
};

template <class F>
Rate measure_rate(std::uint64_t messages, F run) {
  const double cpu0 = process_cpu_seconds();
  const double seconds = run();
  const double cpu = process_cpu_seconds() - cpu0;
  return {static_cast<double>(messages) / seconds, cpu * 1e9 / static_cast<double>(messages)};
}

struct Latency {
  double p50_us = 0, p99_us = 0, mean_us = 0;
  double cpu_us = 0;  // CPU time of the process per round trip (both sides, wake-ups included)
};

template <class F>
Latency measure_trip(int rounds, F run) {
  const double cpu0 = process_cpu_seconds();
  Latency l = run();
  l.cpu_us = (process_cpu_seconds() - cpu0) * 1e6 / rounds;
  return l;
}

Latency summarize(std::vector<double>& samples_us) {
  std::sort(samples_us.begin(), samples_us.end());
  Latency l;
  if (samples_us.empty()) return l;
  l.p50_us = samples_us[samples_us.size() / 2];
  l.p99_us = samples_us[std::min(samples_us.size() - 1, samples_us.size() * 99 / 100)];
  double sum = 0;
  for (double s : samples_us) sum += s;
  l.mean_us = sum / static_cast<double>(samples_us.size());
  return l;
}

std::unique_ptr<Runtime> make_runtime(const Options& o, CrossCoreWake wake, std::chrono::microseconds spin) {
  RuntimeOptions options;
  options.threads = 2;
  options.pin = o.pin;
  options.workers = 1;
  options.handle_signals = false;
  options.wake = wake;
  options.queue_capacity = o.window;
  options.batch_limit = o.window;
  options.reactor.backend = o.backend;
  options.reactor.spin = spin;
  auto rt = Runtime::create(options);
  if (!rt) die("Runtime::create: " + rt.error().message());
  if (o.backend == BackendKind::uring && (*rt)->reactor(0).backend_kind() != BackendKind::uring)
    die("io_uring was asked for but the reactor fell back to epoll");
  if (auto ec = (*rt)->start()) die("start: " + ec.message());
  return std::move(*rt);
}

// --- runtime -------------------------------------------------------------------------------------------------

// Core 0 sends, core 1 receives; every field is touched by one core only (the messages carry the rest).
class RuntimeThroughput {
 public:
  RuntimeThroughput(Runtime& rt, std::uint64_t total, std::uint64_t batch, std::uint64_t window)
      : rt_(rt), total_(total), batch_(batch), window_(window) {}

  // Seconds for all the messages.
  double run() {
    rt_.post(0, [this] {
      start_ = SteadyClock::now();
      pump();
    });
    auto result = done_.get_future();
    if (result.wait_for(120s) != std::future_status::ready) die("runtime throughput: no end within 120 s");
    if (!in_order_) die("runtime throughput: messages out of order");
    return std::chrono::duration<double>(result.get()).count();
  }

 private:
  // Core 0: one batch per turn while the window allows.
  void pump() {
    pump_scheduled_ = false;
    if (sent_ >= total_ || sent_ - acked_ >= window_) return;
    const std::uint64_t end = std::min(total_, sent_ + batch_);
    for (; sent_ < end; ++sent_) rt_.post(1, [this, seq = sent_] { receive(seq); });
    if (sent_ < total_ && sent_ - acked_ < window_) schedule_pump();
  }
  void schedule_pump() {
    if (pump_scheduled_) return;
    pump_scheduled_ = true;
    rt_.post(0, [this] { pump(); });
  }
  // Core 1.
  void receive(std::uint64_t seq) {
    in_order_ &= seq == received_;
    ++received_;
    if (received_ % batch_ == 0 || received_ == total_) rt_.post(0, [this, n = received_] { acknowledged(n); });
  }
  // Core 0.
  void acknowledged(std::uint64_t n) {
    acked_ = n;
    if (acked_ == total_) {
      done_.set_value(SteadyClock::now() - start_);
      return;
    }
    schedule_pump();
  }

  Runtime& rt_;
  const std::uint64_t total_, batch_, window_;
  std::uint64_t sent_ = 0, acked_ = 0;
  bool pump_scheduled_ = false;
  SteadyClock::time_point start_;
  alignas(64) std::uint64_t received_ = 0;
  bool in_order_ = true;
  std::promise<SteadyClock::duration> done_;
};

class RuntimeRoundTrip {
 public:
  RuntimeRoundTrip(Runtime& rt, int rounds) : rt_(rt), rounds_(rounds), warmup_(rounds / 10) {}

  Latency run() {
    samples_.reserve(static_cast<std::size_t>(rounds_));
    rt_.post(0, [this] { ping(); });
    auto result = done_.get_future();
    if (result.wait_for(120s) != std::future_status::ready) die("runtime round trip: no end within 120 s");
    return summarize(samples_);
  }

 private:
  void ping() {
    sent_at_ = SteadyClock::now();
    rt_.post(1, [this] { rt_.post(0, [this] { pong(); }); });
  }
  void pong() {
    if (done_count_++ >= warmup_)
      samples_.push_back(std::chrono::duration<double, std::micro>(SteadyClock::now() - sent_at_).count());
    if (done_count_ == rounds_ + warmup_) {
      done_.set_value();
      return;
    }
    ping();
  }

  Runtime& rt_;
  const int rounds_, warmup_;
  int done_count_ = 0;
  SteadyClock::time_point sent_at_;
  std::vector<double> samples_;
  std::promise<void> done_;
};

// --- reporting -----------------------------------------------------------------------------------------------

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--messages") {
      o.messages = std::stoull(value());
    } else if (arg == "--batch") {
      o.batch = std::max<std::uint64_t>(1, std::stoull(value()));
    } else if (arg == "--window") {
      o.window = std::stoull(value());
    } else if (arg == "--round-trips") {
      o.round_trips = std::max(10, std::stoi(value()));
    } else if (arg == "--reps") {
      o.reps = std::max(1, std::stoi(value()));
    } else if (arg == "--backend") {
      auto kind = parse_backend_kind(value());
      if (!kind) die("--backend: epoll, uring or auto");
      o.backend = *kind;
    } else if (arg == "--spin-us") {
      o.spin = std::chrono::microseconds(std::stoll(value()));
    } else if (arg == "--no-pin") {
      o.pin = false;
    } else if (arg == "--json") {
      o.json = value();
    } else if (arg == "--only") {
      o.only = value();
    } else {
      die("usage: cross_core_bench [--messages N] [--batch B] [--window W] [--round-trips R] [--reps K] "
          "[--backend epoll|uring|auto] [--spin-us S] [--no-pin] [--json FILE] [--only NAME]");
    }
  }

  if (o.window < o.batch) o.window = 8 * o.batch;

  // Which wake-ups exist here: MSG_RING only between two io_uring reactors.
  std::vector<std::pair<std::string, CrossCoreWake>> wakes{{"eventfd", CrossCoreWake::eventfd}};
  BackendKind actual;
  {
    auto probe = make_runtime(o, CrossCoreWake::eventfd, 0us);
    actual = probe->reactor(0).backend_kind();
    probe->stop();
    probe->join();
  }
  if (actual == BackendKind::uring) wakes.push_back({"msg_ring", CrossCoreWake::msg_ring});

  const QueueRun queue_run{o.messages, o.batch, o.window, o.round_trips, o.pin};
  std::map<std::string, std::vector<Rate>> rate;
  std::map<std::string, std::vector<Latency>> trip;    // round trips
  for (int rep = 0; rep < o.reps; ++rep) {
    // Interleaved: drift over the run hits every variant alike.
    auto wanted = [&](const std::string& name) { return name.find(o.only) != std::string::npos; };
    for (const auto& [name, wake] : wakes) {
      if (!wanted("runtime-" + name)) continue;
      auto rt = make_runtime(o, wake, 0us);
      rate["runtime-" + name].push_back(
          measure_rate(o.messages, [&] { return RuntimeThroughput(*rt, o.messages, o.batch, o.window).run(); }));
      trip["runtime-" + name].push_back(measure_trip(o.round_trips + o.round_trips / 10,
                                                     [&] { return RuntimeRoundTrip(*rt, o.round_trips).run(); }));
      rt->stop();
      rt->join();
    }
    if (wanted("runtime-spin")) {
      auto rt = make_runtime(o, CrossCoreWake::automatic, o.spin);
      rate["runtime-spin"].push_back(
          measure_rate(o.messages, [&] { return RuntimeThroughput(*rt, o.messages, o.batch, o.window).run(); }));
      trip["runtime-spin"].push_back(measure_trip(o.round_trips + o.round_trips / 10,
                                                  [&] { return RuntimeRoundTrip(*rt, o.round_trips).run(); }));
      rt->stop();
      rt->join();
    }
    if (wanted("mutex-cv")) {
      rate["mutex-cv"].push_back(measure_rate(o.messages, [&] { return mutex_throughput_seconds(queue_run, false); }));
      trip["mutex-cv"].push_back(measure_trip(o.round_trips + o.round_trips / 10, [&] {
        std::vector<double> samples = mutex_round_trips_us(queue_run);
        return summarize(samples);
      }));
    }
    if (wanted("mutex-cv-batch"))
      rate["mutex-cv-batch"].push_back(measure_rate(o.messages, [&] { return mutex_throughput_seconds(queue_run, true); }));
  }

  auto rate_of = [&](const std::string& k) {
    std::vector<double> v;
    for (const Rate& r : rate[k]) v.push_back(r.per_s);
    return median(v);
  };
  auto cpu_of = [&](const std::string& k) {
    std::vector<double> v;
    for (const Rate& r : rate[k]) v.push_back(r.cpu_ns);
    return median(v);
  };
  auto p50_of = [&](const std::string& k) {
    std::vector<double> v;
    for (const Latency& l : trip[k]) v.push_back(l.p50_us);
    return median(v);
  };
  auto p99_of = [&](const std::string& k) {
    std::vector<double> v;
    for (const Latency& l : trip[k]) v.push_back(l.p99_us);
    return median(v);
  };
  auto trip_cpu_of = [&](const std::string& k) {
    std::vector<double> v;
    for (const Latency& l : trip[k]) v.push_back(l.cpu_us);
    return median(v);
  };
  auto mean_of = [&](const std::string& k) {
    std::vector<double> v;
    for (const Latency& l : trip[k]) v.push_back(l.mean_us);
    return median(v);
  };

  std::printf("cross_core_bench: backend %s, batch %llu, window %llu, %llu messages, %d round trips, %d reps, %s\n",
              std::string(to_string(actual)).c_str(), static_cast<unsigned long long>(o.batch),
              static_cast<unsigned long long>(o.window), static_cast<unsigned long long>(o.messages), o.round_trips,
              o.reps, o.pin ? "pinned" : "not pinned");
  std::printf("\n%-22s %14s %14s\n", "throughput", "msgs/s", "cpu ns/msg");
  for (const auto& [name, v] : rate) std::printf("%-22s %14.0f %14.1f\n", name.c_str(), rate_of(name), cpu_of(name));
  std::printf("\n%-22s %10s %10s %10s %10s\n", "round trip", "p50 us", "p99 us", "mean us", "cpu us");
  for (const auto& [name, v] : trip)
    std::printf("%-22s %10.2f %10.2f %10.2f %10.2f\n", name.c_str(), p50_of(name), p99_of(name), mean_of(name),
                trip_cpu_of(name));

  const std::string default_wake = "runtime-" + wakes.back().first;
  // The runtime's default wake-up (automatic: MSG_RING between io_uring reactors, else eventfd).
  const double throughput_ratio = rate_of(default_wake) / rate_of("mutex-cv");
  const double throughput_ratio_batch = rate_of(default_wake) / rate_of("mutex-cv-batch");
  const double cpu_ratio = cpu_of("mutex-cv") / cpu_of(default_wake);
  const double spin_ratio = p50_of("mutex-cv") / p50_of("runtime-spin");
  const double sleep_ratio = p50_of("mutex-cv") / p50_of(default_wake);
  std::printf("\nratios (target >= 5 for the first and the third)\n");
  std::printf("  %s / mutex-cv throughput        %6.2f\n", default_wake.c_str(), throughput_ratio);
  std::printf("  %s / mutex-cv-batch throughput  %6.2f\n", default_wake.c_str(), throughput_ratio_batch);
  std::printf("  mutex-cv / %s cpu per message  %6.2f\n", default_wake.c_str(), cpu_ratio);
  std::printf("  mutex-cv / runtime-spin round trip (p50)   %6.2f\n", spin_ratio);
  std::printf("  mutex-cv / %s round trip (p50) %6.2f\n", default_wake.c_str(), sleep_ratio);
  if (wakes.size() > 1)
    std::printf("  eventfd / msg_ring round trip (p50)        %6.2f\n", p50_of("runtime-eventfd") / p50_of("runtime-msg_ring"));

  if (!o.json.empty()) {
    std::FILE* f = std::fopen(o.json.c_str(), "w");
    if (!f) die("cannot write " + o.json);
    std::fprintf(f, "{\"backend\":\"%s\",\"batch\":%llu,\"window\":%llu,\"messages\":%llu,\"round_trips\":%d,\"reps\":%d,\"pinned\":%s,",
                 std::string(to_string(actual)).c_str(), static_cast<unsigned long long>(o.batch),
                 static_cast<unsigned long long>(o.window), static_cast<unsigned long long>(o.messages), o.round_trips,
                 o.reps, o.pin ? "true" : "false");
    std::fprintf(f, "\"throughput_msgs_per_s\":{");
    bool first = true;
    for (const auto& [name, v] : rate) {
      std::fprintf(f, "%s\"%s\":{\"median\":%.1f,\"cpu_ns_per_msg\":%.2f,\"runs\":[", first ? "" : ",", name.c_str(),
                   rate_of(name), cpu_of(name));
      for (std::size_t i = 0; i < v.size(); ++i)
        std::fprintf(f, "%s{\"msgs_per_s\":%.1f,\"cpu_ns_per_msg\":%.2f}", i ? "," : "", v[i].per_s, v[i].cpu_ns);
      std::fprintf(f, "]}");
      first = false;
    }
    std::fprintf(f, "},\"round_trip_us\":{");
    first = true;
    for (const auto& [name, v] : trip) {
      std::fprintf(f, "%s\"%s\":{\"p50\":%.3f,\"p99\":%.3f,\"mean\":%.3f,\"cpu_us\":%.3f,\"runs\":[", first ? "" : ",",
                   name.c_str(), p50_of(name), p99_of(name), mean_of(name), trip_cpu_of(name));
      for (std::size_t i = 0; i < v.size(); ++i)
        std::fprintf(f, "%s{\"p50\":%.3f,\"p99\":%.3f,\"mean\":%.3f,\"cpu_us\":%.3f}", i ? "," : "", v[i].p50_us,
                     v[i].p99_us, v[i].mean_us, v[i].cpu_us);
      std::fprintf(f, "]}");
      first = false;
    }
    std::fprintf(f, "},\"ratios\":{\"throughput_runtime_over_mutex_cv\":%.3f,\"throughput_runtime_over_mutex_cv_batch\":%.3f,"
                 "\"cpu_per_msg_mutex_cv_over_runtime\":%.3f,"
                 "\"round_trip_mutex_cv_over_spin\":%.3f,\"round_trip_mutex_cv_over_sleeping\":%.3f}}\n",
                 throughput_ratio, throughput_ratio_batch, cpu_ratio, spin_ratio, sleep_ratio);
    std::fclose(f);
  }
  return 0;
}
