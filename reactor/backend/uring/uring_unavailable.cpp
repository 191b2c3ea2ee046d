// Stands in for the io_uring backend in a build without liburing (meson -During=disabled, or liburing not
// installed): asking for io_uring fails with Errc::backend_unavailable, so Reactor::create falls back to
// epoll and says why, exactly as on a kernel that refuses io_uring.
#include "reactor/backend/detail/backend.hpp"

namespace rfarm::detail {

Result<std::unique_ptr<Backend>> make_uring_backend(const BackendContext& context) {
  context.log.debug("io_uring backend not built in: rfarm was configured without liburing");
  return fail(Errc::backend_unavailable);
}

}  // namespace rfarm::detail
