#include "reactor/backend/detail/backend.hpp"

#include <strings.h>

namespace rfarm {

std::string_view to_string(BackendKind kind) noexcept {
  switch (kind) {
    case BackendKind::automatic: return "auto";
    case BackendKind::epoll: return "epoll";
    case BackendKind::uring: return "uring";
  }
  return "?";
}

Result<BackendKind> parse_backend_kind(std::string_view text) noexcept {
  auto is = [&](const char* name) {
    return text.size() == std::char_traits<char>::length(name) && ::strncasecmp(text.data(), name, text.size()) == 0;
  };
  if (is("auto") || is("automatic")) return BackendKind::automatic;
  if (is("epoll")) return BackendKind::epoll;
  if (is("uring") || is("io_uring") || is("iouring")) return BackendKind::uring;
  return fail(std::make_error_code(std::errc::invalid_argument));
}

namespace detail {

void IoOp::abandon() noexcept { backend->abandon(*this); }

}  // namespace detail
}  // namespace rfarm
