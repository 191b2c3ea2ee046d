// FrameReader: the receive side of a farm connection, without the I/O. Bytes go in as they arrive; verified
// frames come out, at 8-byte aligned addresses even when a peer's frames are not multiples of 8 long (the reader
// moves the rest of its buffer down when a frame would start misaligned).
//
//     FrameReader reader(limits);
//     MutableBytes space = reader.writable(16 * 1024);        // receive into it, then
//     reader.commit(received);
//     for (;;) {
//       auto frame = reader.next();                           // Result<std::optional<FrameView>>
//       if (!frame) return close_connection(frame.error());   // the stream is broken: say why once, close
//       if (!*frame) break;                                   // need more bytes
//       handle(**frame);                                      // valid until the next call on the reader
//     }
//
// The buffer grows as bytes arrive, to hold the largest frame seen (at most limits.max_frame_size), and is reused;
// an announced length alone reserves nothing. A frame is valid only until the next call on the reader: copy what
// must outlive it (a task's arguments handed to a worker).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "farm/protocol/frame_decoder.hpp"
#include "lib/bytes.hpp"
#include "lib/error.hpp"

namespace rfarm::farm {

class FrameReader {
 public:
  explicit FrameReader(const FrameLimits& limits = {}, std::size_t initial_capacity = 16 * 1024);

  // At least min_free bytes to receive into (after the bytes held).
  MutableBytes writable(std::size_t min_free);
  // The first n bytes of writable() now hold data.
  void commit(std::size_t n) noexcept { end_ += n; }
  // writable + memcpy + commit.
  void append(ConstBytes bytes);

  Result<std::optional<FrameView>> next();

  // Bytes received and not yet returned in a frame.
  std::size_t buffered() const noexcept { return end_ - begin_; }
  // Bytes of buffer held (for a server's memory accounting).
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  // Moves the held bytes to the start of storage (8-byte aligned).
  void compact() noexcept;
  void reserve(std::size_t capacity);

  FrameLimits limits_;
  std::unique_ptr<std::uint64_t[]> storage_;  // uint64_t: 8-byte aligned
  std::size_t capacity_ = 0;                  // bytes
  std::size_t begin_ = 0;
  std::size_t end_ = 0;

  std::byte* base() const noexcept { return reinterpret_cast<std::byte*>(storage_.get()); }
};

}  // namespace rfarm::farm
