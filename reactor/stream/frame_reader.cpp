#include "reactor/stream/frame_reader.hpp"

namespace rfarm {
namespace detail {
namespace {

std::size_t header_size(FramePrefix prefix) noexcept {
  return prefix == FramePrefix::u16_le || prefix == FramePrefix::u16_be ? 2 : 4;
}

std::uint64_t decode_length(FramePrefix prefix, const std::byte* p) noexcept {
  auto b = [p](int i) { return static_cast<std::uint64_t>(std::to_integer<std::uint8_t>(p[i])); };
  switch (prefix) {
    case FramePrefix::u32_le: return b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24;
    case FramePrefix::u32_be: return b(3) | b(2) << 8 | b(1) << 16 | b(0) << 24;
    case FramePrefix::u16_le: return b(0) | b(1) << 8;
    case FramePrefix::u16_be: return b(1) | b(0) << 8;
  }
  return 0;
}

}  // namespace

FrameScan scan_frame(ConstBytes buffered, const FrameReaderOptions& options, FrameLayout& layout,
                     std::error_code& ec) noexcept {
  layout.header = header_size(options.prefix);
  layout.payload = 0;
  if (buffered.size() < layout.header) return FrameScan::partial;
  std::uint64_t length = decode_length(options.prefix, buffered.data());
  if (length > options.max_frame_size) {
    ec = make_error_code(Errc::frame_too_large);
    return FrameScan::invalid;
  }
  if (length == 0 && !options.allow_empty_frames) {
    ec = make_error_code(Errc::empty_frame);
    return FrameScan::invalid;
  }
  layout.payload = static_cast<std::size_t>(length);
  return buffered.size() - layout.header >= layout.payload ? FrameScan::complete : FrameScan::partial;
}

std::size_t encode_frame_prefix(FramePrefix prefix, std::size_t size, std::byte (&out)[4]) noexcept {
  auto byte = [size](int shift) { return static_cast<std::byte>((size >> shift) & 0xff); };
  switch (prefix) {
    case FramePrefix::u32_le: out[0] = byte(0), out[1] = byte(8), out[2] = byte(16), out[3] = byte(24); return 4;
    case FramePrefix::u32_be: out[0] = byte(24), out[1] = byte(16), out[2] = byte(8), out[3] = byte(0); return 4;
    case FramePrefix::u16_le: out[0] = byte(0), out[1] = byte(8); return 2;
    case FramePrefix::u16_be: out[0] = byte(8), out[1] = byte(0); return 2;
  }
  return 0;
}

}  // namespace detail

template class FrameReader<StreamSocket>;

}  // namespace rfarm
