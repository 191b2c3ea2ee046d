#include "reactor/stream/stream_buffers.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace rfarm::detail {

std::size_t ReadBuffer::take(MutableBytes out) noexcept {
  std::size_t n = std::min(out.size(), size());
  if (n > 0) std::memcpy(out.data(), base_ + begin_, n);
  begin_ += n;
  if (empty() && base_ != nullptr) reset_storage();  // nothing points into a buffer that was copied out
  return n;
}

void ReadBuffer::release_if_empty() noexcept {
  if (empty() && base_ != nullptr) reset_storage();
}

void ReadBuffer::reset_storage() noexcept {
  lease_.reset();
  heap_.reset();
  base_ = nullptr;
  capacity_ = begin_ = end_ = 0;
}

void ReadBuffer::adopt(PooledBuffer received) noexcept {
  assert(empty());
  reset_storage();
  lease_ = std::move(received);
  base_ = lease_.data();
  begin_ = 0;
  end_ = lease_.size();
  capacity_ = end_ + lease_.writable().size();
}

MutableBytes ReadBuffer::space(std::size_t max_total) {
  if (base_ == nullptr) {
    lease_ = pool_->acquire();
    base_ = lease_.data();
    capacity_ = lease_.capacity();
    begin_ = end_ = 0;
  }
  std::size_t want = size() + 1;  // room for at least one more byte
  // Slide the bytes to the front when nothing fits behind them, or when the tail is so short that receiving
  // into it would cost a syscall per few bytes.
  if (begin_ > 0 && (begin_ + want > capacity_ || capacity_ - end_ < capacity_ / 4)) {
    std::memmove(base_, base_ + begin_, size());
    end_ -= begin_;
    begin_ = 0;
  }
  if (want > capacity_) {
    // A delimited read longer than a pool buffer: double, up to what the read may need at most.
    std::size_t grown = std::max(want, std::min(2 * capacity_, max_total));
    auto block = std::make_unique<std::byte[]>(grown);
    if (size() > 0) std::memcpy(block.get(), base_ + begin_, size());
    end_ = size();
    begin_ = 0;
    lease_.reset();
    heap_ = std::move(block);
    base_ = heap_.get();
    capacity_ = grown;
  }
  return {base_ + end_, capacity_ - end_};
}

MutableBytes ReadBuffer::space_for(std::size_t total) {
  if (base_ == nullptr) {
    lease_ = pool_->acquire();
    base_ = lease_.data();
    capacity_ = lease_.capacity();
    begin_ = end_ = 0;
  }
  if (total > capacity_) {
    auto block = std::make_unique<std::byte[]>(total);
    if (size() > 0) std::memcpy(block.get(), base_ + begin_, size());
    end_ = size();
    begin_ = 0;
    lease_.reset();
    heap_ = std::move(block);
    base_ = heap_.get();
    capacity_ = total;
  } else if (begin_ + total > capacity_ || end_ == capacity_) {
    std::memmove(base_, base_ + begin_, size());
    end_ -= begin_;
    begin_ = 0;
  }
  return {base_ + end_, capacity_ - end_};
}

std::size_t ReadBuffer::find(std::string_view delimiter, std::size_t from) const noexcept {
  std::string_view haystack = as_chars(data());
  if (from >= haystack.size()) return std::string_view::npos;
  return haystack.find(delimiter, from);
}

std::size_t WriteBuffer::append(ConstBytes data) {
  if (!lease_) lease_ = pool_->acquire();
  MutableBytes room = lease_.writable();
  std::size_t n = std::min(room.size(), data.size());
  if (n > 0) std::memcpy(room.data(), data.data(), n);
  lease_.commit(n);
  return n;
}

}  // namespace rfarm::detail
