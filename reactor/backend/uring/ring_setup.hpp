// Opening an io_uring the backend can use: the best setup flags this kernel accepts (tried in order, falling
// back on EINVAL), the features and opcodes the backend relies on, and the tuning switches measured in
// reactor/backend/uring/README.md. Failure here is clean: nothing stays open, and the reactor falls back to epoll.
#pragma once

#include <liburing.h>

#include <memory>
#include <string_view>

#include "lib/error.hpp"

namespace rfarm::detail {

// What the backend may use; each choice was measured (reactor/backend/uring/README.md). RFARM_URING_TUNE switches
// them for comparisons: no-defer-taskrun, no-fixed-files, no-registered-ring, no-multishot-accept, and
// no-direct-send (every send a SEND SQE: a tie in CPU time on this machine, 3.5x the user instructions).
struct UringTuning {
  bool defer_taskrun = true;     // IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN (else COOP_TASKRUN)
  bool fixed_files = true;       // registered descriptors for sockets (IOSQE_FIXED_FILE)
  bool registered_ring = true;   // io_uring_register_ring_fd: io_uring_enter skips the fd lookup
  bool direct_send = true;       // try send(2) before queuing an SQE
  bool multishot_accept = true;  // one accept SQE for many connections

  static UringTuning from_environment() noexcept;
  void apply(std::string_view spec) noexcept;
};

// An initialised ring; io_uring_queue_exit on destruction.
struct OwnedRing {
  OwnedRing() noexcept = default;
  OwnedRing(const OwnedRing&) = delete;
  OwnedRing& operator=(const OwnedRing&) = delete;
  ~OwnedRing() {
    if (open) io_uring_queue_exit(&ring);
  }
  io_uring ring{};
  bool open = false;
  unsigned setup_flags = 0;   // the IORING_SETUP_* flags the kernel accepted
  bool disabled = false;      // created with IORING_SETUP_R_DISABLED: enable before the first submit
  unsigned fixed_files = 0;   // size of the sparse registered-file table (0: none)
};

// Opens a ring with entries submission slots. Errors: the kernel's (ENOSYS, EPERM when
// kernel.io_uring_disabled or seccomp forbid it) or Errc::backend_unavailable when a feature is missing.
Result<std::unique_ptr<OwnedRing>> open_ring(unsigned entries, const UringTuning& tuning);

}  // namespace rfarm::detail
