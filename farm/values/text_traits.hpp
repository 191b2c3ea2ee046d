// ValueTraits for text and bytes.
//
// std::string reads and writes FlexBuffers strings. std::string_view reads without copying: the view points
// into the received buffer and is valid while the buffer is (for a task argument, during the call), so a task
// taking string_view costs no allocation. const char* is write-only.
//
// Bytes are blobs, a kind of their own: Blob (owning) and std::vector<std::byte> read and write blobs, BlobView
// reads without copying. std::vector<std::uint8_t> is NOT a blob but a vector of integers, as in every other
// container.
#pragma once

#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "farm/values/value_traits.hpp"
#include "lib/bytes.hpp"

namespace rfarm::farm {

// An owned byte blob.
struct Blob {
  std::vector<std::byte> bytes;
  friend bool operator==(const Blob&, const Blob&) = default;
};

// A blob in a buffer someone else owns.
struct BlobView {
  ConstBytes bytes;
};

namespace detail {

inline ReadResult<std::string_view> read_text(flexbuffers::Reference r) {
  if (r.IsString()) {
    flexbuffers::String s = r.AsString();
    return std::string_view(s.c_str(), s.length());
  }
  if (r.IsKey()) return std::string_view(r.AsKey());
  return std::unexpected(type_mismatch("string", r));
}

inline ReadResult<BlobView> read_blob(flexbuffers::Reference r) {
  if (!r.IsBlob()) return std::unexpected(type_mismatch("blob", r));
  flexbuffers::Blob blob = r.AsBlob();
  return BlobView{ConstBytes(reinterpret_cast<const std::byte*>(blob.data()), blob.size())};
}

inline void write_blob(flexbuffers::Builder& b, ConstBytes bytes) { b.Blob(bytes.data(), bytes.size()); }

}  // namespace detail

template <>
struct ValueTraits<std::string_view> {
  static void write(flexbuffers::Builder& b, std::string_view s) { b.String(s.data(), s.size()); }
  static ReadResult<std::string_view> read(flexbuffers::Reference r) { return detail::read_text(r); }
};

template <>
struct ValueTraits<std::string> {
  static void write(flexbuffers::Builder& b, const std::string& s) { b.String(s.data(), s.size()); }
  static ReadResult<std::string> read(flexbuffers::Reference r) {
    auto text = detail::read_text(r);
    if (!text) return std::unexpected(std::move(text.error()));
    return std::string(*text);
  }
};

template <>
struct ValueTraits<const char*> {
  static void write(flexbuffers::Builder& b, const char* s) { b.String(s, std::strlen(s)); }
};

template <>
struct ValueTraits<BlobView> {
  static void write(flexbuffers::Builder& b, const BlobView& blob) { detail::write_blob(b, blob.bytes); }
  static ReadResult<BlobView> read(flexbuffers::Reference r) { return detail::read_blob(r); }
};

template <>
struct ValueTraits<Blob> {
  static void write(flexbuffers::Builder& b, const Blob& blob) { detail::write_blob(b, blob.bytes); }
  static ReadResult<Blob> read(flexbuffers::Reference r) {
    auto blob = detail::read_blob(r);
    if (!blob) return std::unexpected(std::move(blob.error()));
    return Blob{{blob->bytes.begin(), blob->bytes.end()}};
  }
};

template <>
struct ValueTraits<std::vector<std::byte>> {
  static void write(flexbuffers::Builder& b, const std::vector<std::byte>& bytes) { detail::write_blob(b, bytes); }
  static ReadResult<std::vector<std::byte>> read(flexbuffers::Reference r) {
    auto blob = detail::read_blob(r);
    if (!blob) return std::unexpected(std::move(blob.error()));
    return std::vector<std::byte>(blob->bytes.begin(), blob->bytes.end());
  }
};

}  // namespace rfarm::farm
