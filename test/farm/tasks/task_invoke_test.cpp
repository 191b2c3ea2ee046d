// Invoking a task: arguments decoded from FlexBuffer bytes with the arity checked and every error naming its
// argument, the result encoded into the caller's builder, and every failure (a throw included) an outcome.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "farm/tasks/task_registry.hpp"
#include "farm/values/json.hpp"
#include "farm/values/values.hpp"

namespace shapes {
struct Rect {
  double w = 0, h = 0;
};
}  // namespace shapes

template <>
struct rfarm::farm::ValueTraits<shapes::Rect> {
  static void write(flexbuffers::Builder& b, const shapes::Rect& r) {
    b.Map([&] {
      write_field(b, "w", r.w);
      write_field(b, "h", r.h);
    });
  }
  static ReadResult<shapes::Rect> read(flexbuffers::Reference r) {
    return read_record<shapes::Rect, double, double>(r, "w", "h");
  }
};

// A broken user type: its write leaves two values, which the invocation must catch rather than assert on.
struct TwoValues {};
template <>
struct rfarm::farm::ValueTraits<TwoValues> {
  static void write(flexbuffers::Builder& b, const TwoValues&) {
    b.Int(1);
    b.Int(2);
  }
};

namespace rfarm::farm {
namespace {

long add2(long a, long b) { return a + b; }

class TaskInvokeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(registry_.add("add2", &add2));
    ASSERT_TRUE(registry_.add("sq", [](double x) { return x * x; }));
    ASSERT_TRUE(registry_.add("split", [](std::string s) {
      std::vector<std::string> words;
      std::string word;
      for (char c : s + " ") {
        if (c != ' ') {
          word += c;
        } else if (!word.empty()) {
          words.push_back(word);
          word.clear();
        }
      }
      return words;
    }));
    ASSERT_TRUE(registry_.add("length", [](std::string_view s) { return s.size(); }));
    ASSERT_TRUE(registry_.add("tally", [](const std::vector<std::map<std::string, std::string>>& people) {
      return people.size();
    }));
    ASSERT_TRUE(registry_.add("whoami", [](TaskContext& context, std::int64_t x) {
      return std::to_string(context.task_id()) + " " + std::string(context.task_name()) + " " + std::to_string(x);
    }));
    ASSERT_TRUE(registry_.add("count", [](Args args) { return args.size(); }));
    ASSERT_TRUE(registry_.add("nothing", [] {}));
    ASSERT_TRUE(registry_.add("throws", [](std::string why) -> int { throw std::runtime_error(why); }));
    ASSERT_TRUE(registry_.add("throws_int", []() -> int { throw 42; }));
    ASSERT_TRUE(registry_.add("maybe", [](bool ok) -> std::expected<int, std::string> {
      if (!ok) return std::unexpected(std::string("asked to fail"));
      return 7;
    }));
    ASSERT_TRUE(registry_.add("late", []() -> std::expected<void, TaskFailure> {
      return std::unexpected(TaskFailure{FailureKind::deadline_exceeded, "too late"});
    }));
    ASSERT_TRUE(registry_.add("area", [](shapes::Rect r) { return r.w * r.h; }));
    ASSERT_TRUE(registry_.add("badkey", [] { return std::map<std::string, int>{{std::string("a\0b", 3), 1}}; }));
    ASSERT_TRUE(registry_.add("two_values", [] { return TwoValues{}; }));
  }

  // Invokes name with the arguments fill writes into a vector.
  template <class Fill>
  TaskOutcome call(std::string_view name, Fill fill, TaskContext context = TaskContext()) {
    flexbuffers::Builder args;
    args.Vector([&] { fill(args); });
    args.Finish();
    args_ = args.GetBuffer();
    return registry_.invoke(name, context, as_const_bytes(args_), out_);
  }
  std::string result_json() { return to_json(flexbuffers::GetRoot(out_.GetBuffer())); }

  TaskRegistry registry_;
  std::vector<std::uint8_t> args_;
  flexbuffers::Builder out_;
};

TEST_F(TaskInvokeTest, DecodesArgumentsAndEncodesTheResult) {
  TaskOutcome o = call("add2", [](auto& b) {
    b.Int(40);
    b.Int(2);
  });
  ASSERT_TRUE(o.ok()) << o.message();
  EXPECT_EQ(result_json(), "42");
  o = call("split", [](auto& b) { b.String("to be  or"); });
  ASSERT_TRUE(o.ok()) << o.message();
  EXPECT_EQ(result_json(), "[\"to\", \"be\", \"or\"]");
}

TEST_F(TaskInvokeTest, ArityIsChecked) {
  TaskOutcome o = call("add2", [](auto& b) {
    b.Int(1);
    b.Int(2);
    b.Int(3);
  });
  EXPECT_EQ(o.kind(), FailureKind::bad_arguments);
  EXPECT_EQ(o.message(), "'add2' takes 2 arguments, got 3");
  o = call("sq", [](auto&) {});
  EXPECT_EQ(o.message(), "'sq' takes 1 argument, got 0");
}

TEST_F(TaskInvokeTest, NoArgumentBytesMeansNoArguments) {
  TaskContext context;
  TaskOutcome o = registry_.invoke("nothing", context, {}, out_);
  ASSERT_TRUE(o.ok()) << o.message();
  EXPECT_EQ(result_json(), "null") << "a void task returns null";
  o = registry_.invoke("add2", context, {}, out_);
  EXPECT_EQ(o.message(), "'add2' takes 2 arguments, got 0");
}

TEST_F(TaskInvokeTest, ATypeErrorNamesTheArgument) {
  TaskOutcome o = call("add2", [](auto& b) {
    b.Int(1);
    b.String("2");
  });
  EXPECT_EQ(o.kind(), FailureKind::bad_arguments);
  EXPECT_EQ(o.message(), "argument 2 of 'add2': expected integer, got string");
  o = call("add2", [](auto& b) {
    b.Double(1.0);
    b.Int(2);
  });
  EXPECT_EQ(o.message(), "argument 1 of 'add2': expected integer, got float");
}

TEST_F(TaskInvokeTest, ANestedTypeErrorNamesThePath) {
  TaskOutcome o = call("tally", [](auto& b) {
    b.Vector([&] {
      for (int i = 0; i < 3; ++i) b.Map([&] { b.String("name", "x"); });
      b.Map([&] { b.Null("name"); });
    });
  });
  EXPECT_EQ(o.kind(), FailureKind::bad_arguments);
  EXPECT_EQ(o.message(), "argument 1 of 'tally' at [3].name: expected string, got null");
}

TEST_F(TaskInvokeTest, ArgumentsMustBeAVector) {
  std::vector<std::uint8_t> five = encode_value(5);
  TaskContext context;
  TaskOutcome o = registry_.invoke("add2", context, as_const_bytes(five), out_);
  EXPECT_EQ(o.kind(), FailureKind::bad_arguments);
  EXPECT_EQ(o.message(), "the arguments of 'add2' must be a vector, got integer");
}

TEST_F(TaskInvokeTest, TypedArgumentVectorsWork) {
  std::vector<std::int64_t> numbers{5, 6};
  flexbuffers::Builder b;
  b.Vector(numbers.data(), numbers.size());  // what another library may send for a list of numbers
  b.Finish();
  TaskContext context;
  TaskOutcome o = registry_.invoke("add2", context, as_const_bytes(b.GetBuffer()), out_);
  ASSERT_TRUE(o.ok()) << o.message();
  EXPECT_EQ(result_json(), "11");
}

TEST_F(TaskInvokeTest, StringViewArgumentsReadInPlace) {
  TaskOutcome o = call("length", [](auto& b) { b.String("12345"); });
  ASSERT_TRUE(o.ok()) << o.message();
  EXPECT_EQ(result_json(), "5");
}

TEST_F(TaskInvokeTest, TheContextComesFirstAndKnowsTheCall) {
  TaskOutcome o = call("whoami", [](auto& b) { b.Int(3); }, TaskContext({.task_id = 77}));
  ASSERT_TRUE(o.ok()) << o.message();
  EXPECT_EQ(result_json(), "\"77 whoami 3\"");
}

TEST_F(TaskInvokeTest, ArgsTakesAnyNumber) {
  EXPECT_EQ(registry_.find("count")->arity, kAnyArity);
  TaskOutcome o = call("count", [](auto& b) {
    b.Int(1);
    b.String("x");
    b.Null();
  });
  ASSERT_TRUE(o.ok()) << o.message();
  EXPECT_EQ(result_json(), "3");
}

TEST_F(TaskInvokeTest, AThrowIsATaskErrorWithItsText) {
  TaskOutcome o = call("throws", [](auto& b) { b.String("disk on fire"); });
  EXPECT_EQ(o.kind(), FailureKind::task_error);
  EXPECT_EQ(o.message(), "disk on fire");
  o = call("throws_int", [](auto&) {});
  EXPECT_EQ(o.kind(), FailureKind::task_error);
  EXPECT_EQ(o.message(), "'throws_int' threw a non-standard exception");
}

TEST_F(TaskInvokeTest, ExpectedResultsFailWithoutThrowing) {
  TaskOutcome o = call("maybe", [](auto& b) { b.Bool(false); });
  EXPECT_EQ(o.kind(), FailureKind::task_error);
  EXPECT_EQ(o.message(), "asked to fail");
  o = call("maybe", [](auto& b) { b.Bool(true); });
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(result_json(), "7");
  o = call("late", [](auto&) {});
  EXPECT_EQ(o.kind(), FailureKind::deadline_exceeded);
  EXPECT_EQ(o.message(), "too late");
}

TEST_F(TaskInvokeTest, UserTypesAreArguments) {
  TaskOutcome o = call("area", [](auto& b) {
    b.Map([&] {
      b.Double("w", 2);
      b.Double("h", 4.5);
    });
  });
  ASSERT_TRUE(o.ok()) << o.message();
  EXPECT_EQ(result_json(), "9.0");
  o = call("area", [](auto& b) { b.Map([&] { b.Double("w", 2); }); });
  EXPECT_EQ(o.message(), "argument 1 of 'area': missing field 'h'");
}

TEST_F(TaskInvokeTest, AnUnencodableResultIsAFailure) {
  TaskOutcome o = call("badkey", [](auto&) {});
  EXPECT_EQ(o.kind(), FailureKind::task_error);
  EXPECT_EQ(o.message(), "the result of 'badkey' cannot be encoded: map key \"a\" contains a NUL byte");
  o = call("two_values", [](auto&) {});
  EXPECT_EQ(o.kind(), FailureKind::server_error);
  EXPECT_EQ(o.message(), "the result of 'two_values' was encoded as 2 values, not 1");
}

TEST_F(TaskInvokeTest, TheOutputBuilderIsReusable) {
  for (int i = 0; i < 100; ++i) {
    TaskOutcome o = call("add2", [&](auto& b) {
      b.Int(i);
      b.Int(i);
    });
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(*decode_value<long>(as_const_bytes(out_.GetBuffer())), 2 * i);
  }
}

TEST(TaskContextTest, CancelAndDeadline) {
  std::atomic<bool> cancel{false};
  TaskContext context({.deadline = TaskContext::Clock::now() + std::chrono::hours(1), .cancel_flag = &cancel});
  EXPECT_FALSE(context.should_stop());
  cancel = true;
  EXPECT_TRUE(context.cancel_requested());
  EXPECT_TRUE(context.should_stop());
  TaskContext past({.deadline = TaskContext::Clock::now() - std::chrono::milliseconds(1)});
  EXPECT_TRUE(past.deadline_passed());
  EXPECT_FALSE(TaskContext().should_stop());
}

}  // namespace
}  // namespace rfarm::farm
