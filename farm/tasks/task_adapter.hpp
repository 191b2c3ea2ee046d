// The adapter between an ordinary C++ function and a TaskEntry's invoke: it checks the arity, decodes each
// argument with ValueTraits (the first failure names the argument), calls the function, and encodes what it
// returns. Nothing here allocates on the way to a successful call beyond what the parameter types themselves
// need (a std::string parameter copies; a std::string_view does not).
//
// What a task may look like (F is a function pointer or a lambda without captures' state worth mentioning):
//     R f(P1, P2, ...)                     P: any ReadableValue, by value, const& or &&
//     R f(TaskContext&, P1, ...)           the context first
//     R f(Args)  /  R f(TaskContext&, Args)   any number of arguments, as they came
// and R is void (the result is null), any WritableValue, or std::expected<T, E> (T void or writable) where E is
// std::string (a task_error with that message) or TaskFailure (a failure of the kind it names). A task that
// throws fails with task_error and the exception's what().
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

#include "farm/tasks/task_entry.hpp"
#include "farm/values/value.hpp"
#include "farm/values/value_traits.hpp"

namespace rfarm::farm {
namespace detail {

template <class... T>
struct TypeList {};

template <class F>
struct Signature : Signature<decltype(&F::operator())> {};
template <class R, class... A>
struct Signature<R (*)(A...)> {
  using Result = R;
  using Params = TypeList<A...>;
};
template <class R, class... A>
struct Signature<R (*)(A...) noexcept> : Signature<R (*)(A...)> {};
template <class C, class R, class... A>
struct Signature<R (C::*)(A...) const> : Signature<R (*)(A...)> {};
template <class C, class R, class... A>
struct Signature<R (C::*)(A...) const noexcept> : Signature<R (*)(A...)> {};

template <class T>
struct ExpectedTraits : std::false_type {};
template <class T, class E>
struct ExpectedTraits<std::expected<T, E>> : std::true_type {
  using Value = T;
  using Error = E;
};

template <class P>
inline constexpr bool kIsContext = std::is_same_v<P, TaskContext&>;
template <class P>
inline constexpr bool kIsArgs = std::is_same_v<std::remove_cvref_t<P>, Args>;

template <class P>
inline constexpr bool kIsParameter = ReadableValue<std::remove_cvref_t<P>> &&
                                     (!std::is_lvalue_reference_v<P> || std::is_const_v<std::remove_reference_t<P>>);

// The parameters after an optional leading TaskContext&.
template <class List>
struct DropContext {
  using Type = List;
  static constexpr bool kTakesContext = false;
};
template <class... Rest>
struct DropContext<TypeList<TaskContext&, Rest...>> {
  using Type = TypeList<Rest...>;
  static constexpr bool kTakesContext = true;
};

template <class List>
struct ArityOf;
template <class... P>
struct ArityOf<TypeList<P...>> {
  static constexpr std::int32_t kValue =
      (sizeof...(P) == 1 && (kIsArgs<P> && ...)) ? kAnyArity : static_cast<std::int32_t>(sizeof...(P));
};

template <class T>
TaskOutcome write_result(flexbuffers::Builder& out, T&& result) {
  using R = std::remove_cvref_t<T>;
  if constexpr (ExpectedTraits<R>::value) {
    using E = typename ExpectedTraits<R>::Error;
    static_assert(std::is_same_v<E, std::string> || std::is_same_v<E, TaskFailure>,
                  "a task returning std::expected must use std::string or TaskFailure as its error type");
    if (!result) {
      if constexpr (std::is_same_v<E, std::string>) {
        return TaskOutcome::failure(FailureKind::task_error, std::move(result.error()));
      } else {
        return TaskOutcome::failure(std::move(result.error()));
      }
    }
    if constexpr (std::is_void_v<typename ExpectedTraits<R>::Value>) {
      out.Null();
    } else {
      write_value(out, *result);
    }
  } else {
    static_assert(WritableValue<R>,
                  "a task's result type needs ValueTraits<T>::write (see farm/values/value_traits.hpp)");
    write_value(out, result);
  }
  return TaskOutcome::success();
}

inline std::string arity_message(std::string_view task, std::size_t wanted, std::size_t got) {
  return fmt::format("'{}' takes {} argument{}, got {}", task, wanted, wanted == 1 ? "" : "s", got);
}

template <class Call, class... P, std::size_t... I>
TaskOutcome decode_and_call(Call&& call, TaskContext& context, const Args& args, flexbuffers::Builder& out,
                            TypeList<P...>, std::index_sequence<I...>) {
  if (args.size() != sizeof...(P))
    return TaskOutcome::failure(FailureKind::bad_arguments,
                                arity_message(context.task_name(), sizeof...(P), args.size()));
  // Braced initialisation decodes left to right; the first failure is the one reported.
  [[maybe_unused]] std::tuple<ReadResult<std::remove_cvref_t<P>>...> decoded{
      ValueTraits<std::remove_cvref_t<P>>::read(args.view()[I])...};
  std::optional<TaskOutcome> failure;
  [[maybe_unused]] auto keep_first_failure = [&](std::size_t index, auto& argument) {
    if (!failure && !argument)
      failure = TaskOutcome::failure(FailureKind::bad_arguments,
                                     argument.error().describe_argument(index + 1, context.task_name()));
  };
  (keep_first_failure(I, std::get<I>(decoded)), ...);
  if (failure) return std::move(*failure);
  using R = decltype(call(std::move(*std::get<I>(decoded))...));
  if constexpr (std::is_void_v<R>) {
    call(std::move(*std::get<I>(decoded))...);
    out.Null();
    return TaskOutcome::success();
  } else {
    return write_result(out, call(std::move(*std::get<I>(decoded))...));
  }
}

template <class Call, class... P>
TaskOutcome call_with_args(Call&& call, TaskContext& context, const Args& args, flexbuffers::Builder& out,
                           TypeList<P...> params) {
  static_assert(((kIsParameter<P> || kIsArgs<P>) && ...),
                "every task parameter needs ValueTraits<T>::read (farm/values/value_traits.hpp) and must be taken by "
                "value, const& or &&; only the first may be TaskContext&");
  if constexpr (ArityOf<TypeList<P...>>::kValue == kAnyArity) {
    using R = decltype(call(args));
    if constexpr (std::is_void_v<R>) {
      call(args);
      out.Null();
      return TaskOutcome::success();
    } else {
      return write_result(out, call(args));
    }
  } else {
    return decode_and_call(call, context, args, out, params, std::index_sequence_for<P...>{});
  }
}

}  // namespace detail

// Parameters after the optional TaskContext&, or kAnyArity for a task taking Args.
template <class F>
constexpr std::int32_t task_arity() noexcept {
  using Params = typename detail::Signature<F>::Params;
  return detail::ArityOf<typename detail::DropContext<Params>::Type>::kValue;
}

// The InvokeFn of callable type F; target points at an F.
template <class F>
TaskOutcome invoke_callable(const void* target, TaskContext& context, const Args& args,
                            flexbuffers::Builder& out) noexcept {
  using Params = typename detail::Signature<F>::Params;
  using Drop = detail::DropContext<Params>;
  const F& fn = *static_cast<const F*>(target);
  try {
    if constexpr (Drop::kTakesContext) {
      return detail::call_with_args(
          [&](auto&&... a) -> decltype(auto) { return fn(context, std::forward<decltype(a)>(a)...); }, context, args,
          out, typename Drop::Type{});
    } else {
      return detail::call_with_args([&](auto&&... a) -> decltype(auto) { return fn(std::forward<decltype(a)>(a)...); },
                                    context, args, out, typename Drop::Type{});
    }
  } catch (const ValueEncodeError& e) {
    return TaskOutcome::failure(FailureKind::task_error,
                                fmt::format("the result of '{}' cannot be encoded: {}", context.task_name(), e.what()));
  } catch (const std::exception& e) {
    return TaskOutcome::failure(FailureKind::task_error, e.what());
  } catch (...) {
    return TaskOutcome::failure(FailureKind::task_error,
                                fmt::format("'{}' threw a non-standard exception", context.task_name()));
  }
}

// An entry for callable fn of type F (RFARM_TASK builds these at compile time; the registry for add()).
template <class F>
constexpr TaskEntry make_task_entry(const char* name, const F* fn, TaskFlags flags) noexcept {
  return TaskEntry{name, flags, task_arity<F>(), &invoke_callable<F>, fn};
}

}  // namespace rfarm::farm
