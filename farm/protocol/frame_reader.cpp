#include "farm/protocol/frame_reader.hpp"

#include <algorithm>
#include <cstring>

namespace rfarm::farm {

FrameReader::FrameReader(const FrameLimits& limits, std::size_t initial_capacity) : limits_(limits) {
  reserve(std::max<std::size_t>(initial_capacity, 64));
}

void FrameReader::reserve(std::size_t capacity) {
  std::size_t words = (capacity + 7) / 8;
  auto bigger = std::make_unique_for_overwrite<std::uint64_t[]>(words);
  std::size_t held = buffered();
  if (held) std::memcpy(bigger.get(), base() + begin_, held);
  storage_ = std::move(bigger);
  capacity_ = words * 8;
  begin_ = 0;
  end_ = held;
}

void FrameReader::compact() noexcept {
  if (begin_ == 0) return;
  std::size_t held = buffered();
  if (held) std::memmove(base(), base() + begin_, held);
  begin_ = 0;
  end_ = held;
}

MutableBytes FrameReader::writable(std::size_t min_free) {
  if (capacity_ - end_ < min_free) {
    compact();
    if (capacity_ - end_ < min_free) reserve(std::max(capacity_ * 2, end_ + min_free));
  }
  return {base() + end_, capacity_ - end_};
}

void FrameReader::append(ConstBytes bytes) {
  MutableBytes space = writable(bytes.size());
  if (!bytes.empty()) std::memcpy(space.data(), bytes.data(), bytes.size());
  commit(bytes.size());
}

Result<std::optional<FrameView>> FrameReader::next() {
  if (begin_ == end_) begin_ = end_ = 0;  // everything consumed: start over at the aligned front
  FrameSplit split = split_frame({base() + begin_, buffered()}, limits_);
  if (split.status == SplitStatus::error) return fail(split.error);
  // Not yet: the buffer grows as bytes arrive (writable), never on a peer's announced length alone, so a
  // connection that claims a 64 MiB frame and sends nothing pins no 64 MiB.
  if (split.status == SplitStatus::need_more) return std::optional<FrameView>();
  if (begin_ % kFrameAlignment != 0) compact();  // a peer's frame of a length not a multiple of 8 came before
  ConstBytes frame{base() + begin_, split.size};
  auto view = decode_frame(frame, limits_);
  if (!view) return fail(view.error());
  begin_ += split.size;
  return std::optional<FrameView>(*view);
}

}  // namespace rfarm::farm
