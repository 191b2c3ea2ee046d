// Placeholder until the io_uring backend lands (issue 3): reports the backend as unavailable, so the reactor
// falls back to epoll.
#include "reactor/backend.hpp"

namespace rfarm::detail {

Result<std::unique_ptr<Backend>> make_uring_backend(const BackendContext&) { return fail(Errc::backend_unavailable); }

}  // namespace rfarm::detail
