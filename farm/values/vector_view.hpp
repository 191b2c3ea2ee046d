// VectorView: one way to walk every FlexBuffers vector flavour. FlexBuffers stores a vector untyped (a type byte
// per element), typed (one element type, e.g. what Builder::Vector(const int64_t*, n) writes) or fixed (2 to 4
// numbers, no size field); flexbuffers::Reference::AsVector() only returns the first. Readers of the farm accept
// all three: which one a client's library picked is not the client's business.
//
//     if (auto v = VectorView::of(ref)) for (std::size_t i = 0; i < v->size(); ++i) use((*v)[i]);
//
// A map is not a vector here (it is one in flexbuffers' IsVector()).
#pragma once

#include <flatbuffers/flexbuffers.h>

#include <cstddef>
#include <optional>

namespace rfarm::farm {

class VectorView {
 public:
  // The empty vector.
  VectorView() noexcept = default;

  // The view of value, or nullopt if value is not a vector.
  static std::optional<VectorView> of(const flexbuffers::Reference& value) noexcept {
    if (value.IsUntypedVector()) return VectorView(value.AsVector());
    if (value.IsTypedVector()) return VectorView(value.AsTypedVector());
    if (value.IsFixedTypedVector()) return VectorView(value.AsFixedTypedVector());
    return std::nullopt;
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  // Element i; a null reference past the end.
  flexbuffers::Reference operator[](std::size_t i) const noexcept {
    switch (flavour_) {
      case Flavour::untyped: return untyped_[i];
      case Flavour::typed: return typed_[i];
      case Flavour::fixed: return fixed_[i];
    }
    return {};
  }

 private:
  enum class Flavour : unsigned char { untyped, typed, fixed };

  explicit VectorView(flexbuffers::Vector v) noexcept : flavour_(Flavour::untyped), size_(v.size()), untyped_(v) {}
  explicit VectorView(flexbuffers::TypedVector v) noexcept : flavour_(Flavour::typed), size_(v.size()), typed_(v) {}
  explicit VectorView(flexbuffers::FixedTypedVector v) noexcept
      : flavour_(Flavour::fixed), size_(v.size()), fixed_(v) {}

  Flavour flavour_ = Flavour::untyped;
  std::size_t size_ = 0;
  flexbuffers::Vector untyped_ = flexbuffers::Vector::EmptyVector();
  flexbuffers::TypedVector typed_ = flexbuffers::TypedVector::EmptyTypedVector();
  flexbuffers::FixedTypedVector fixed_ = flexbuffers::FixedTypedVector::EmptyFixedTypedVector();
};

}  // namespace rfarm::farm
