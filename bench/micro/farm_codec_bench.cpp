// Micro-benchmarks of the farm's per-task work without the network: the costs behind the target of 500,000
// trivial tasks/s end to end on 2 cores (about 4 us of CPU per task for everything, both sides).
//
//   build/bench/micro/farm_codec_bench [--benchmark_format=json]
//
// Each benchmark reuses its builders and buffers as a connection would, so steady-state allocation is measured.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "farm/protocol/frame_codec.hpp"
#include "farm/tasks/builtin_tasks.hpp"
#include "farm/values/values.hpp"

namespace {

using namespace rfarm;
using namespace rfarm::farm;

std::int64_t add2(std::int64_t a, std::int64_t b) { return a + b; }

std::vector<std::uint8_t> small_args() { return encode_value(std::vector<std::int64_t>{3, 4}); }

// An encoded frame copied to an 8-byte aligned buffer (as FrameReader holds frames).
struct AlignedFrame {
  std::vector<std::uint64_t> words;
  std::size_t size = 0;
  ConstBytes bytes() const { return {reinterpret_cast<const std::byte*>(words.data()), size}; }
};

AlignedFrame submit_frame() {
  FrameEncoder encoder;
  std::vector<std::byte> out;
  auto args = small_args();
  encoder.submit(out, {.task_id = 12345, .task = "add2", .args = as_const_bytes(args)});
  AlignedFrame f{std::vector<std::uint64_t>(out.size() / 8 + 1), out.size()};
  std::memcpy(f.words.data(), out.data(), out.size());
  return f;
}

// Values: two integers into a FlexBuffer vector (what a client does per task), into a reused builder.
void BM_EncodeArgs(benchmark::State& state) {
  flexbuffers::Builder b;
  std::int64_t i = 0;
  for (auto _ : state) {
    b.Clear();
    std::size_t start = b.StartVector();
    write_value(b, i);
    write_value(b, i + 1);
    b.EndVector(start, false, false);
    b.Finish();
    benchmark::DoNotOptimize(b.GetBuffer().data());
    ++i;
  }
}
BENCHMARK(BM_EncodeArgs);

// Values: verifying and reading the two integers back as a tuple.
void BM_VerifyAndReadArgs(benchmark::State& state) {
  auto args = small_args();
  for (auto _ : state) {
    auto t = decode_value<std::tuple<std::int64_t, std::int64_t>>(as_const_bytes(args));
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_VerifyAndReadArgs);

// Frames: one Submit with small args, appended to an output buffer (cleared, capacity kept).
void BM_EncodeSubmit(benchmark::State& state) {
  FrameEncoder encoder;
  std::vector<std::byte> out;
  out.reserve(4096);
  auto args = small_args();
  std::uint64_t id = 0;
  for (auto _ : state) {
    out.clear();
    encoder.submit(out, {.task_id = ++id, .task = "add2", .args = as_const_bytes(args)});
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["frame_bytes"] = static_cast<double>(out.size());
}
BENCHMARK(BM_EncodeSubmit);

// Frames: split + FlatBuffers verification + FlexBuffer verification of that Submit.
void BM_DecodeVerifySubmit(benchmark::State& state) {
  AlignedFrame frame = submit_frame();
  for (auto _ : state) {
    FrameSplit split = split_frame(frame.bytes());
    auto view = decode_frame(frame.bytes().first(split.size));
    benchmark::DoNotOptimize(view);
  }
}
BENCHMARK(BM_DecodeVerifySubmit);

// The server's whole per-task work, minus I/O: decode and verify the Submit, look the task up, decode its
// arguments, run it, encode the result into a reused builder and append the Result frame to a batch buffer.
void BM_ServeOneTask(benchmark::State& state) {
  TaskRegistry registry;
  registry.add("add2", &add2, TaskFlags::may_run_inline);
  AlignedFrame frame = submit_frame();
  FrameEncoder encoder;
  flexbuffers::Builder result(256, flexbuffers::BUILDER_FLAG_NONE);
  std::vector<std::byte> out;
  out.reserve(64 * 1024);
  for (auto _ : state) {
    auto view = decode_frame(frame.bytes());
    const wire::Submit* submit = view->as<wire::Submit>();
    TaskContext context({.task_id = submit->task_id()});
    TaskOutcome outcome = registry.invoke(submit->task()->string_view(), context, args_of(*submit), result);
    encoder.result(out, submit->task_id(), std::as_bytes(std::span(result.GetBuffer())));
    if (out.size() > 60 * 1024) out.clear();  // a batch went out
    benchmark::DoNotOptimize(outcome);
  }
}
BENCHMARK(BM_ServeOneTask);

// The client's per-result work: decode and verify a Result frame and read its integer.
void BM_ReadOneResult(benchmark::State& state) {
  FrameEncoder encoder;
  std::vector<std::byte> out;
  auto value = encode_value(std::int64_t{7});
  encoder.result(out, 99, as_const_bytes(value));
  AlignedFrame frame{std::vector<std::uint64_t>(out.size() / 8 + 1), out.size()};
  std::memcpy(frame.words.data(), out.data(), out.size());
  for (auto _ : state) {
    auto view = decode_frame(frame.bytes());
    auto n = decode_value<std::int64_t>(value_of(*view->as<wire::Result>()));
    benchmark::DoNotOptimize(n);
  }
}
BENCHMARK(BM_ReadOneResult);

// A batch of 1000 Submits through FrameReader, as one receive would deliver them.
void BM_ReaderBatchOf1000Submits(benchmark::State& state) {
  FrameEncoder encoder;
  std::vector<std::byte> stream;
  auto args = small_args();
  for (std::uint64_t id = 0; id < 1000; ++id)
    encoder.submit(stream, {.task_id = id, .task = "add2", .args = as_const_bytes(args)});
  FrameReader reader;
  for (auto _ : state) {
    reader.append(stream);
    std::size_t frames = 0;
    for (;;) {
      auto next = reader.next();
      if (!next || !*next) break;
      ++frames;
    }
    benchmark::DoNotOptimize(frames);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 1000);
}
BENCHMARK(BM_ReaderBatchOf1000Submits);

}  // namespace

BENCHMARK_MAIN();
