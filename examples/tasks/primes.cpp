// count_primes(lo, hi): how many primes p satisfy lo <= p < hi, by a segmented sieve of Eratosthenes. The quick
// start splits [0, 2*10^7) into 200 chunks across the farm and adds the counts: pi(2*10^7) = 1,270,607.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "farm/tasks/task_definition.hpp"

namespace {

constexpr std::int64_t kMaxBound = 1'000'000'000'000;  // 10^12: base primes up to 10^6, a few MB at most

// Primes below limit (limit small: up to 10^6 + 1).
std::vector<std::int64_t> small_primes(std::int64_t limit) {
  std::vector<bool> composite(static_cast<std::size_t>(limit), false);
  std::vector<std::int64_t> primes;
  for (std::int64_t i = 2; i < limit; ++i) {
    if (composite[static_cast<std::size_t>(i)]) continue;
    primes.push_back(i);
    for (std::int64_t j = i * i; j < limit; j += i) composite[static_cast<std::size_t>(j)] = true;
  }
  return primes;
}

std::expected<std::int64_t, std::string> count_primes(std::int64_t lo, std::int64_t hi) {
  if (lo < 0 || hi < lo || hi > kMaxBound)
    return std::unexpected(fmt::format("count_primes: need 0 <= lo <= hi <= {}, got [{}, {})", kMaxBound, lo, hi));
  lo = std::max<std::int64_t>(lo, 2);
  if (hi <= lo) return 0;
  auto root = static_cast<std::int64_t>(std::sqrt(static_cast<double>(hi))) + 2;
  std::vector<std::int64_t> base = small_primes(root);
  constexpr std::int64_t kSegment = 1 << 18;
  std::vector<char> composite(kSegment);
  std::int64_t count = 0;
  for (std::int64_t start = lo; start < hi; start += kSegment) {
    std::int64_t end = std::min(start + kSegment, hi);
    std::fill(composite.begin(), composite.begin() + (end - start), 0);
    for (std::int64_t p : base) {
      if (p * p >= end) break;
      std::int64_t first = std::max(p * p, (start + p - 1) / p * p);
      for (std::int64_t m = first; m < end; m += p) composite[static_cast<std::size_t>(m - start)] = 1;
    }
    count += std::count(composite.begin(), composite.begin() + (end - start), 0);
  }
  return count;
}

}  // namespace

RFARM_TASK("count_primes", count_primes)
