#include "reactor/backend/uring/ring_setup.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <new>

namespace rfarm::detail {

UringTuning UringTuning::from_environment() noexcept {
  UringTuning t;
  if (const char* spec = std::getenv("RFARM_URING_TUNE")) t.apply(spec);
  return t;
}

void UringTuning::apply(std::string_view spec) noexcept {
  while (!spec.empty()) {
    std::size_t comma = spec.find(',');
    std::string_view item = spec.substr(0, comma);
    if (item == "no-defer-taskrun") defer_taskrun = false;
    if (item == "no-fixed-files") fixed_files = false;
    if (item == "no-registered-ring") registered_ring = false;
    if (item == "direct-send") direct_send = true;
    if (item == "no-direct-send") direct_send = false;
    if (item == "no-multishot-accept") multishot_accept = false;
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
  }
}

namespace {

// Opcodes the backend issues. SEND_ZC stands in for "Linux 6.0": multishot receive came with it, and a
// probe cannot ask about flags (IORING_RECV_MULTISHOT) directly.
constexpr int kRequiredOps[] = {
    IORING_OP_RECV, IORING_OP_SEND,   IORING_OP_RECVMSG,      IORING_OP_SENDMSG,      IORING_OP_ACCEPT,
    IORING_OP_CONNECT, IORING_OP_POLL_ADD, IORING_OP_ASYNC_CANCEL, IORING_OP_READ, IORING_OP_FILES_UPDATE,
    IORING_OP_NOP, IORING_OP_SEND_ZC,
};

bool has_required_ops(io_uring& ring) noexcept {
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  if (!probe) return false;
  bool ok = std::all_of(std::begin(kRequiredOps), std::end(kRequiredOps),
                        [&](int op) { return io_uring_opcode_supported(probe, op) != 0; });
  io_uring_free_probe(probe);
  return ok;
}

unsigned fixed_file_table_size() noexcept {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  // The kernel refuses a table larger than RLIMIT_NOFILE; sockets beyond the table just go unregistered.
  return static_cast<unsigned>(std::min<rlim_t>(limit.rlim_cur, 65536));
}

}  // namespace

Result<std::unique_ptr<OwnedRing>> open_ring(unsigned entries, const UringTuning& tuning) {
  std::unique_ptr<OwnedRing> owned(new (std::nothrow) OwnedRing);
  if (!owned) return fail(std::make_error_code(std::errc::not_enough_memory));

  // Best first. SINGLE_ISSUER + DEFER_TASKRUN (6.1): completions are posted only when the loop asks for them,
  // so no task-work interrupts while user code runs. R_DISABLED makes the submitter the thread that enables
  // the ring (the first wait()), not the one that created the reactor. TASKRUN_FLAG lets a zero-timeout poll
  // skip the syscall when nothing is pending. SUBMIT_ALL: one bad SQE does not stall the ones after it.
  constexpr unsigned kCommon = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
  const unsigned ladder[] = {
      kCommon | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
          IORING_SETUP_R_DISABLED,
      kCommon | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
      IORING_SETUP_CQSIZE,
  };
  int r = -EINVAL;
  for (unsigned flags : ladder) {
    if (!tuning.defer_taskrun && (flags & IORING_SETUP_DEFER_TASKRUN)) continue;
    io_uring_params params{};
    params.flags = flags;
    params.cq_entries = entries * 4;  // multishot requests post many CQEs per SQE
    r = io_uring_queue_init_params(entries, &owned->ring, &params);
    if (r == 0) {
      owned->open = true;
      owned->setup_flags = flags;
      owned->disabled = (flags & IORING_SETUP_R_DISABLED) != 0;
      constexpr unsigned kNeeded = IORING_FEAT_EXT_ARG | IORING_FEAT_NODROP | IORING_FEAT_FAST_POLL;
      if ((params.features & kNeeded) != kNeeded) return fail(Errc::backend_unavailable);
      break;
    }
    if (r != -EINVAL) break;  // ENOSYS, EPERM (io_uring_disabled, seccomp), ENOMEM: no point trying less
  }
  if (!owned->open) return fail(errno_code(-r));
  if (!has_required_ops(owned->ring)) return fail(Errc::backend_unavailable);

  if (tuning.fixed_files) {
    unsigned size = fixed_file_table_size();
    if (size > 0 && io_uring_register_files_sparse(&owned->ring, size) == 0) owned->fixed_files = size;
  }
  return owned;
}

}  // namespace rfarm::detail
