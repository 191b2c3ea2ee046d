// The one piece of per-thread state the runtime has: which core (if any) the calling thread is.
//
// A core's thread binds itself once, before its reactor runs, and unbinds when it ends. Everything else
// lives in objects the runtime owns; this pointer only finds them. Threads that are not cores (main, offload
// workers, a test's thread) see nullptr.
#pragma once

namespace rfarm {

class Reactor;
class Runtime;

namespace detail {

class Mailbox;
class OffloadGate;
class ShutdownRegistry;

struct CoreBinding {
  Runtime* runtime = nullptr;
  unsigned core = 0;
  Reactor* reactor = nullptr;
  Mailbox* mailbox = nullptr;
  OffloadGate* offload = nullptr;
  ShutdownRegistry* shutdown = nullptr;
};

// The calling thread's binding, or nullptr off the runtime's cores.
CoreBinding* current_core() noexcept;
void bind_current_core(CoreBinding* binding) noexcept;

}  // namespace detail
}  // namespace rfarm
