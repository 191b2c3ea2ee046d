#include "farm/values/flex_verifier.hpp"

#include <flatbuffers/flexbuffers.h>

#include <cstring>
#include <limits>

#include "farm/error.hpp"

namespace rfarm::farm {
namespace {

using flexbuffers::Type;

// The FlexBuffers format, as flexbuffers.h writes and reads it: a value is a slot of the parent's width holding
// either the value itself (inline: null, numbers, bool) or an offset back to it. Vectors and strings have their
// size in the word before their first element; untyped vectors a type byte per element after the elements; maps
// are an untyped vector of values preceded by [keys offset, keys width, size]. The root slot, its packed type
// and its width are the last bytes of the buffer.
class Walker {
 public:
  Walker(ConstBytes buffer, const FlexLimits& limits) noexcept
      : begin_(reinterpret_cast<const std::uint8_t*>(buffer.data())),
        end_(begin_ + buffer.size()),
        max_depth_(limits.max_depth),
        budget_(static_cast<std::uint64_t>(limits.expansion_factor) * buffer.size() + 64) {}

  std::error_code verify() noexcept {
    std::size_t size = static_cast<std::size_t>(end_ - begin_);
    if (size < 3) return malformed();
    std::uint8_t width = end_[-1];
    std::uint8_t packed = end_[-2];
    if (!valid_width(width) || size < 2u + width) return malformed();
    const std::uint8_t* slot = end_ - 2 - width;
    if (!aligned(slot, width)) return make_error_code(FarmErrc::value_misaligned);
    verify_reference(slot, width, packed, 0);
    return error_;
  }

 private:
  static bool valid_width(std::uint64_t w) noexcept { return w == 1 || w == 2 || w == 4 || w == 8; }
  static bool aligned(const std::uint8_t* p, std::size_t width) noexcept {
    return reinterpret_cast<std::uintptr_t>(p) % width == 0;
  }

  std::error_code malformed() noexcept { return fail(FarmErrc::value_malformed); }
  std::error_code fail(FarmErrc code) noexcept {
    if (!error_) error_ = make_error_code(code);
    return error_;
  }
  bool ok() const noexcept { return !error_; }

  // [p, p + len) inside the buffer.
  bool inside(const std::uint8_t* p, std::uint64_t len) const noexcept {
    return p >= begin_ && p <= end_ && len <= static_cast<std::uint64_t>(end_ - p);
  }
  // Little-endian unsigned of `width` bytes at p (bounds already checked); memcpy: no alignment assumed here.
  static std::uint64_t read_uint(const std::uint8_t* p, std::size_t width) noexcept {
    std::uint64_t v = 0;
    std::memcpy(&v, p, width);
    return v;
  }
  bool spend(std::uint64_t units) noexcept {
    if (units > budget_) {
      fail(FarmErrc::value_too_expansive);
      return false;
    }
    budget_ -= units;
    return true;
  }
  // The target of the offset in a slot of `width` bytes; nullptr (and an error) if it points before the buffer.
  const std::uint8_t* follow(const std::uint8_t* slot, std::size_t width) noexcept {
    std::uint64_t offset = read_uint(slot, width);
    if (offset > static_cast<std::uint64_t>(slot - begin_)) {
      malformed();
      return nullptr;
    }
    return slot - offset;
  }
  // Whether `words` words of `width` bytes fit between the buffer's start and p (p itself inside the buffer).
  bool room_before(const std::uint8_t* p, std::size_t words, std::size_t width) const noexcept {
    return p >= begin_ && p <= end_ && static_cast<std::size_t>(p - begin_) >= words * width;
  }
  // The size word in front of data, which must be aligned to width.
  bool read_size(const std::uint8_t* data, std::size_t width, std::uint64_t& size) noexcept {
    if (!aligned(data, width)) {
      fail(FarmErrc::value_misaligned);
      return false;
    }
    if (!room_before(data, 1, width)) {
      malformed();
      return false;
    }
    size = read_uint(data - width, width);
    return true;
  }

  void verify_reference(const std::uint8_t* slot, std::uint8_t parent_width, std::uint8_t packed,
                        std::uint32_t depth) noexcept {
    auto type = static_cast<Type>(packed >> 2);
    std::size_t width = std::size_t{1} << (packed & 3);
    if (type >= flexbuffers::FBT_MAX_TYPE || (type > flexbuffers::FBT_BOOL && type != flexbuffers::FBT_VECTOR_BOOL)) {
      malformed();
      return;
    }
    if (flexbuffers::IsInline(type)) return;  // the parent checked the slot
    const std::uint8_t* target = follow(slot, parent_width);
    if (!target) return;
    switch (type) {
      case flexbuffers::FBT_INDIRECT_INT:
      case flexbuffers::FBT_INDIRECT_UINT:
      case flexbuffers::FBT_INDIRECT_FLOAT:
        if (!inside(target, width)) malformed();
        if (!aligned(target, width)) fail(FarmErrc::value_misaligned);
        return;
      case flexbuffers::FBT_KEY: verify_key(target); return;
      case flexbuffers::FBT_STRING: verify_bytes(target, width, true); return;
      case flexbuffers::FBT_BLOB: verify_bytes(target, width, false); return;
      case flexbuffers::FBT_VECTOR: verify_untyped_vector(target, width, depth + 1); return;
      case flexbuffers::FBT_MAP: verify_map(target, width, depth + 1); return;
      case flexbuffers::FBT_VECTOR_INT:
      case flexbuffers::FBT_VECTOR_UINT:
      case flexbuffers::FBT_VECTOR_FLOAT:
      case flexbuffers::FBT_VECTOR_BOOL: verify_scalar_vector(target, width, depth + 1); return;
      case flexbuffers::FBT_VECTOR_KEY: verify_key_vector(target, width, depth + 1); return;
      case flexbuffers::FBT_VECTOR_STRING_DEPRECATED: malformed(); return;
      default:
        if (flexbuffers::IsFixedTypedVector(type)) {
          verify_fixed_vector(target, width, type, depth + 1);
        } else {
          malformed();
        }
        return;
    }
  }

  bool enter(std::uint32_t depth) noexcept {
    if (depth > max_depth_) {
      fail(FarmErrc::value_too_deep);
      return false;
    }
    return true;
  }

  void verify_key(const std::uint8_t* key) noexcept {
    if (key >= end_) {
      malformed();
      return;
    }
    // Scan at most what the budget still allows: a shared long key costs its length at every use.
    std::size_t left = static_cast<std::size_t>(end_ - key);
    std::size_t limit = budget_ < left ? static_cast<std::size_t>(budget_) + 1 : left;
    const void* nul = std::memchr(key, 0, limit);
    if (!nul) {
      limit < left ? fail(FarmErrc::value_too_expansive) : malformed();
      return;
    }
    spend(static_cast<std::size_t>(static_cast<const std::uint8_t*>(nul) - key) + 1);
  }

  void verify_bytes(const std::uint8_t* data, std::size_t width, bool terminated) noexcept {
    std::uint64_t size = 0;
    if (!read_size(data, width, size)) return;
    // size + 1 must not wrap: a size of 2^64 - 1 would pass the bounds check and put the terminator at data[-1].
    if (size == std::numeric_limits<std::uint64_t>::max() || !inside(data, size + (terminated ? 1 : 0))) {
      malformed();
      return;
    }
    if (terminated && data[size] != 0) {
      malformed();
      return;
    }
    spend(size + 1);
  }

  // The size n of the vector at data, after checking its n elements of `width` bytes (plus `extra_per_element`
  // bytes each, the type bytes of an untyped vector) lie inside the buffer, and paying for visiting them.
  bool elements(const std::uint8_t* data, std::size_t width, std::uint64_t extra_per_element,
                std::uint64_t& n) noexcept {
    if (!read_size(data, width, n)) return false;
    std::uint64_t available = static_cast<std::uint64_t>(end_ - data);
    if (n > available / (width + extra_per_element)) {
      malformed();
      return false;
    }
    return spend(n + 1);
  }

  void verify_untyped_vector(const std::uint8_t* data, std::size_t width, std::uint32_t depth) noexcept {
    std::uint64_t n = 0;
    if (!enter(depth) || !elements(data, width, 1, n)) return;
    const std::uint8_t* types = data + n * width;
    for (std::uint64_t i = 0; i < n && ok(); ++i)
      verify_reference(data + i * width, static_cast<std::uint8_t>(width), types[i], depth);
  }

  void verify_map(const std::uint8_t* values, std::size_t width, std::uint32_t depth) noexcept {
    if (!enter(depth)) return;
    if (!aligned(values, width)) {
      fail(FarmErrc::value_misaligned);
      return;
    }
    if (!room_before(values, 3, width)) {
      malformed();
      return;
    }
    const std::uint8_t* prefix = values - 3 * width;  // [keys offset][keys width][size]
    std::uint64_t keys_width = read_uint(prefix + width, width);
    if (!valid_width(keys_width)) {
      malformed();
      return;
    }
    const std::uint8_t* keys = follow(prefix, width);
    std::uint64_t key_count = 0;
    if (!keys || !elements(keys, keys_width, 0, key_count)) return;
    if (key_count != read_uint(values - width, width)) {
      malformed();
      return;
    }
    // Readers find a field by binary search (find_field), so keys must be strictly ascending in byte order, as
    // every FlexBuffers builder writes them (sorted with strcmp, duplicates an error): an unsorted or repeated key
    // would make a present field read as missing, or one of two values silently win.
    const std::uint8_t* previous = nullptr;
    for (std::uint64_t i = 0; i < key_count && ok(); ++i) {
      const std::uint8_t* key = follow(keys + i * keys_width, keys_width);
      if (!key) return;
      verify_key(key);
      if (!ok()) return;
      // Both keys were just checked to be NUL-terminated inside the buffer; the comparison reads no further than
      // the shorter one, already paid for by verify_key.
      if (previous != nullptr && std::strcmp(reinterpret_cast<const char*>(previous), reinterpret_cast<const char*>(key)) >= 0) {
        fail(FarmErrc::value_keys_unordered);
        return;
      }
      previous = key;
    }
    if (ok()) verify_untyped_vector(values, width, depth);
  }

  void verify_scalar_vector(const std::uint8_t* data, std::size_t width, std::uint32_t depth) noexcept {
    std::uint64_t n = 0;
    if (enter(depth)) elements(data, width, 0, n);
  }

  void verify_key_vector(const std::uint8_t* data, std::size_t width, std::uint32_t depth) noexcept {
    std::uint64_t n = 0;
    if (!enter(depth) || !elements(data, width, 0, n)) return;
    for (std::uint64_t i = 0; i < n && ok(); ++i) {
      const std::uint8_t* key = follow(data + i * width, width);
      if (key) verify_key(key);
    }
  }

  void verify_fixed_vector(const std::uint8_t* data, std::size_t width, Type type, std::uint32_t depth) noexcept {
    if (!enter(depth)) return;
    std::uint8_t n = 0;
    flexbuffers::ToFixedTypedVectorElementType(type, &n);
    if (!aligned(data, width)) {
      fail(FarmErrc::value_misaligned);
      return;
    }
    if (!inside(data, std::uint64_t{n} * width)) {
      malformed();
      return;
    }
    spend(n);
  }

  const std::uint8_t* begin_;
  const std::uint8_t* end_;
  std::uint32_t max_depth_;
  std::uint64_t budget_;
  std::error_code error_;
};

}  // namespace

std::error_code verify_flexbuffer(ConstBytes buffer, const FlexLimits& limits) noexcept {
  return Walker(buffer, limits).verify();
}

}  // namespace rfarm::farm
