#include "farm/client/balancer.hpp"

namespace rfarm::farm {

std::optional<std::size_t> pick_least_loaded(std::span<const ConnectionLoad> loads) noexcept {
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < loads.size(); ++i) {
    const ConnectionLoad& l = loads[i];
    if (!l.ready || l.in_flight >= l.window) continue;
    if (!best || l.in_flight < loads[*best].in_flight) best = i;
  }
  return best;
}

}  // namespace rfarm::farm
