// Defining tasks: RFARM_TASK, RFARM_TASK_INLINE and RFARM_MODULE.
//
// In a task module (a shared library the server loads with --module or a client ships with load_module):
//     #include "farm/tasks/task_definition.hpp"
//
//     std::int64_t add2(std::int64_t a, std::int64_t b) { return a + b; }
//     RFARM_TASK("add2", add2)
//     RFARM_TASK("split", [](std::string_view s) { return split_words(s); })
//     RFARM_TASK_INLINE("square", [](double x) { return x * x; })   // cheap: the server may run it on its loop
//
//     RFARM_MODULE("my_tasks")   // exactly once per library, in any one of its source files
//
// How it works, and why it needs no mutable global state: each RFARM_TASK emits a constant TaskEntry and a
// constant pointer to it in the ELF section "rfarm_tasks" (marked used and retain, so neither the compiler, LTO
// nor --gc-sections drops it). The linker gathers the pointers of every object file of the library into one
// array and defines __start_rfarm_tasks / __stop_rfarm_tasks around it, per shared object: a module sees its
// own tasks only, even when the executable that loads it defines tasks too. RFARM_MODULE's rfarm_module_entry
// returns that array with the ABI checks of module_abi.hpp. Nothing runs at load time (no static
// constructors), and nothing is written.
//
// Tested with g++ 12 and binutils 2.40 for a shared library and an executable, with and without
// -fvisibility=hidden, -flto and -Wl,--gc-sections (test/farm/tasks/module_section_test.cpp).
// Limitation: tasks in an object file of a *static* library reach a module only if the linker pulls that object
// in (link the archive with --whole-archive, or put the tasks in the module's own sources).
// The macros must be used at namespace scope; task names are string literals.
#pragma once

#include "farm/tasks/module_abi.hpp"
#include "farm/tasks/task_adapter.hpp"
#include "farm/tasks/task_entry.hpp"

// Section bounds, defined by the linker in each shared object that has the section. Hidden: resolved inside the
// module, never against another object's section. Weak: a module without tasks links (its table is empty).
extern "C" {
[[gnu::visibility("hidden"), gnu::weak]] extern const rfarm::farm::TaskEntry* const __start_rfarm_tasks[];
[[gnu::visibility("hidden"), gnu::weak]] extern const rfarm::farm::TaskEntry* const __stop_rfarm_tasks[];
}

#define RFARM_DETAIL_CAT2(a, b) a##b
#define RFARM_DETAIL_CAT(a, b) RFARM_DETAIL_CAT2(a, b)

#define RFARM_DETAIL_TASK(NAME, FN, FLAGS, ID)                                                                     \
  namespace {                                                                                                       \
  constexpr auto RFARM_DETAIL_CAT(rfarm_task_fn_, ID) = FN;                                                         \
  constexpr ::rfarm::farm::TaskEntry RFARM_DETAIL_CAT(rfarm_task_entry_, ID) =                                      \
      ::rfarm::farm::make_task_entry(NAME, &RFARM_DETAIL_CAT(rfarm_task_fn_, ID), FLAGS);                           \
  [[gnu::used, gnu::retain, gnu::section("rfarm_tasks")]] const ::rfarm::farm::TaskEntry* const RFARM_DETAIL_CAT( \
      rfarm_task_ptr_, ID) = &RFARM_DETAIL_CAT(rfarm_task_entry_, ID);                                             \
  }

// A task that may block or run long: the server runs it on a worker thread.
#define RFARM_TASK(NAME, FN) RFARM_DETAIL_TASK(NAME, FN, ::rfarm::farm::TaskFlags::none, __COUNTER__)
// A task that takes microseconds and never blocks: the server may run it inline on its event loop.
#define RFARM_TASK_INLINE(NAME, FN) \
  RFARM_DETAIL_TASK(NAME, FN, ::rfarm::farm::TaskFlags::may_run_inline, __COUNTER__)

// The module's entry point. Once per shared library (or executable), at global scope.
#define RFARM_MODULE(NAME)                                                                                   \
  extern "C" [[gnu::visibility("default"), gnu::used]] const ::rfarm_module_v1* rfarm_module_entry() {      \
    static const ::rfarm_module_v1 rfarm_module_descriptor = {                                               \
        RFARM_MODULE_ABI_VERSION, sizeof(::rfarm_module_v1), ::rfarm::farm::module_layout_fingerprint(), NAME, \
        __start_rfarm_tasks, __stop_rfarm_tasks};                                                            \
    return &rfarm_module_descriptor;                                                                         \
  }
