// Byte views used by every I/O call: a buffer is a std::span of bytes, never a (void*, size) pair.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace rfarm {

using MutableBytes = std::span<std::byte>;
using ConstBytes = std::span<const std::byte>;

inline ConstBytes as_bytes(std::string_view s) noexcept { return {reinterpret_cast<const std::byte*>(s.data()), s.size()}; }
inline MutableBytes as_writable_bytes(std::string& s) noexcept { return {reinterpret_cast<std::byte*>(s.data()), s.size()}; }
inline std::string_view as_chars(ConstBytes b) noexcept { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

}  // namespace rfarm
