// mandelbrot_row(y, width, height, max_iter): escape-time counts for row y of a width x height picture of the
// Mandelbrot set over [-2, 1] x [-1.5, 1.5]. A point inside the set counts max_iter; a farm renders a picture
// row by row (pmap over y).
#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "farm/tasks/task_definition.hpp"

namespace {

std::expected<std::vector<std::uint32_t>, std::string> mandelbrot_row(std::int64_t y, std::int64_t width,
                                                                       std::int64_t height, std::int64_t max_iter) {
  if (width < 1 || width > 100'000 || height < 1 || height > 100'000 || y < 0 || y >= height || max_iter < 1 ||
      max_iter > 1'000'000)
    return std::unexpected(fmt::format(
        "mandelbrot_row: need 0 <= y < height, 1 <= width, height <= 100000, 1 <= max_iter <= 1000000; got y={}, "
        "width={}, height={}, max_iter={}",
        y, width, height, max_iter));
  std::vector<std::uint32_t> row(static_cast<std::size_t>(width));
  double ci = -1.5 + 3.0 * (static_cast<double>(y) + 0.5) / static_cast<double>(height);
  for (std::int64_t x = 0; x < width; ++x) {
    double cr = -2.0 + 3.0 * (static_cast<double>(x) + 0.5) / static_cast<double>(width);
    double zr = 0, zi = 0;
    std::int64_t n = 0;
    while (n < max_iter && zr * zr + zi * zi <= 4.0) {
      double t = zr * zr - zi * zi + cr;
      zi = 2 * zr * zi + ci;
      zr = t;
      ++n;
    }
    row[static_cast<std::size_t>(x)] = static_cast<std::uint32_t>(n);
  }
  return row;
}

}  // namespace

RFARM_TASK("mandelbrot_row", mandelbrot_row)
