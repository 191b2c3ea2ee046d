// Which I/O backend a reactor runs on, as ReactorOptions, the Kernel's and the tools' options name it. The
// backends themselves are behind reactor/backend/detail/ (the interface they implement and the operation
// contract), which is not API.
#pragma once

#include <cstdint>
#include <string_view>

#include "lib/error.hpp"

namespace rfarm {

enum class BackendKind : std::uint8_t {
  automatic,  // RFARM_BACKEND if set, else io_uring when the kernel allows it, else epoll
  epoll,
  uring,
};

std::string_view to_string(BackendKind kind) noexcept;
// "epoll", "uring" (also "io_uring"), "auto"; an unknown name is invalid_argument.
Result<BackendKind> parse_backend_kind(std::string_view text) noexcept;

}  // namespace rfarm
