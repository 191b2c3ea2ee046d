// The server's per-task path allocates nothing once warm, for a task whose parameters and result are numbers:
// decode and verify the Submit, look the task up, decode its arguments, run it, encode the result and append the
// Result frame to a batch buffer. (The 500,000 tasks/s target leaves no room for per-task heap churn.) This
// executable replaces the global operator new to count.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "farm/protocol/frame_codec.hpp"
#include "farm/tasks/builtin_tasks.hpp"
#include "farm/tasks/content_hash.hpp"
#include "farm/values/values.hpp"

// g++ 12 takes the replaced operator delete's free() for a mismatch with the operator new it inlines.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<long> allocations{0};
std::atomic<bool> counting{false};
}  // namespace

void* operator new(std::size_t size) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace rfarm::farm {
namespace {

std::int64_t add2(std::int64_t a, std::int64_t b) { return a + b; }

TEST(InvokeAllocationTest, ServingANumericTaskAllocatesNothingOnceWarm) {
  TaskRegistry registry;
  ASSERT_TRUE(registry.add("add2", &add2));
  ASSERT_TRUE(register_builtin_tasks(registry));
  FrameEncoder encoder;
  std::vector<std::byte> submits;
  auto args = encode_value(std::vector<std::int64_t>{3, 4});
  ASSERT_FALSE(encoder.submit(submits, {.task_id = 1, .task = "add2", .args = as_const_bytes(args)}));
  ASSERT_FALSE(encoder.submit(submits, {.task_id = 2, .task = "add", .args = as_const_bytes(args)}));
  std::vector<std::uint64_t> aligned(submits.size() / 8 + 1);
  std::memcpy(aligned.data(), submits.data(), submits.size());
  ConstBytes stream{reinterpret_cast<const std::byte*>(aligned.data()), submits.size()};

  flexbuffers::Builder result(256, flexbuffers::BUILDER_FLAG_NONE);
  std::vector<std::byte> batch;
  batch.reserve(1 << 16);
  auto serve_all = [&] {
    ConstBytes rest = stream;
    while (!rest.empty()) {
      FrameSplit split = split_frame(rest);
      auto view = decode_frame(rest.first(split.size));
      ASSERT_TRUE(view);
      const wire::Submit* submit = view->as<wire::Submit>();
      TaskContext context({.task_id = submit->task_id()});
      TaskOutcome outcome = registry.invoke(submit->task()->string_view(), context, args_of(*submit), result);
      ASSERT_TRUE(outcome.ok()) << outcome.message();
      ASSERT_FALSE(encoder.result(batch, submit->task_id(), std::as_bytes(std::span(result.GetBuffer()))));
      rest = rest.subspan(split.size);
    }
  };
  serve_all();  // warm: builders and buffers reach their sizes
  batch.clear();
  allocations = 0;
  counting = true;
  for (int i = 0; i < 100; ++i) {
    serve_all();
    batch.clear();
  }
  counting = false;
  EXPECT_EQ(allocations.load(), 0) << "heap allocations in 200 served tasks";
}

TEST(InvokeAllocationTest, TheCounterCountsInThisFileAndInTheLibrary) {
  counting = true;
  allocations = 0;
  auto* p = new std::vector<int>(10);
  counting = false;
  delete p;
  EXPECT_GE(allocations.load(), 2) << "otherwise the test above proves nothing";
  allocations = 0;
  counting = true;
  auto hex = sha256_hex(as_bytes(std::string_view("x")));  // allocates its 64-character string in librfarm-farm
  counting = false;
  ASSERT_TRUE(hex);
  EXPECT_GE(allocations.load(), 1) << "the library's allocations go through the replaced operator new";
}

}  // namespace
}  // namespace rfarm::farm
