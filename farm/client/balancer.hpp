// Balancing by outstanding work: the next task goes to the ready connection with the fewest tasks in flight,
// never past that connection's window. A slow server keeps at most `window` tasks, so it cannot hoard work
// prefetched while others idle (celery #1933); a fast one drains its window sooner and is picked again.
//
//     std::optional<std::size_t> i = pick_least_loaded(loads);   // nullopt: every window is full (or none ready)
#pragma once

#include <cstddef>
#include <optional>
#include <span>

namespace rfarm::farm {

struct ConnectionLoad {
  bool ready = false;
  std::size_t in_flight = 0;
  std::size_t window = 0;
};

// Ties go to the lowest index.
std::optional<std::size_t> pick_least_loaded(std::span<const ConnectionLoad> loads) noexcept;

}  // namespace rfarm::farm
