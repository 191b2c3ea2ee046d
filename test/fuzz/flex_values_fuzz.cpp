// farm/values: FlexBuffers bytes from a peer, verified and converted into C++ types.
//  * verify_flexbuffer never crashes, and a value it passes can be read in full (to_json walks all of it) and
//    converted to any of a set of C++ types: each conversion gives the value or a ValueError with a message,
//    never a crash or a sanitizer report;
//  * a successful conversion round-trips: encode_value(decode_value<T>(b)) decodes to the same T;
//  * a deep copy of the value (encode_value(Value), what the echo task returns) verifies under the same limits,
//    prints as the same JSON (up to the order of map keys, which the builder sorts).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "farm/values/json.hpp"
#include "farm/values/values.hpp"
#include "test/fuzz/fuzz_check.hpp"

namespace {

namespace farm = rfarm::farm;

rfarm::ConstBytes as_bytes(const std::vector<std::uint8_t>& v) { return farm::as_const_bytes(v); }

// T converts, or refuses with a ValueError that says why.
template <class T>
std::optional<T> convert(rfarm::ConstBytes bytes, const farm::FlexLimits& limits) {
  auto r = farm::decode_value<T>(bytes, limits);
  if (!r) {
    FUZZ_CHECK(!r.error().message().empty(), "a refused conversion says why");
    return std::nullopt;
  }
  return std::optional<T>(std::move(*r));
}

// T converts, and what it converted to survives an encode and a decode unchanged.
template <class T>
void round_trip(rfarm::ConstBytes bytes, const farm::FlexLimits& limits) {
  std::optional<T> value = convert<T>(bytes, limits);
  if (!value) return;
  std::vector<std::uint8_t> again = farm::encode_value(*value);
  auto back = farm::decode_value<T>(as_bytes(again));
  FUZZ_CHECK(back.has_value(), "an encoded value decodes");
  FUZZ_CHECK(*back == *value, "decode(encode(v)) == v");
}

// Conversions that hold views or floats (NaN != NaN): converted, not compared.
template <class... T>
void convert_all(rfarm::ConstBytes bytes, const farm::FlexLimits& limits) {
  (convert<T>(bytes, limits), ...);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  farm::FlexLimits limits;
  if (data[0] & 1) {
    limits.max_depth = 1 + (data[0] >> 1) % 8;
    limits.expansion_factor = 1 + (data[0] >> 4);
  }
  // Copied to an 8-byte aligned buffer (a received frame's values are); data[0] & 2 shifts it by one byte so
  // that misaligned scalars are met and must be refused.
  const std::size_t shift = (data[0] & 2) ? 1 : 0;
  std::vector<std::uint64_t> storage((size - 1 + shift + 7) / 8 + 1);
  auto* base = reinterpret_cast<std::byte*>(storage.data()) + shift;
  std::memcpy(base, data + 1, size - 1);
  const rfarm::ConstBytes bytes(base, size - 1);

  if (farm::verify_flexbuffer(bytes, limits)) {
    // Refused: every conversion must refuse too (decode_value verifies first).
    FUZZ_CHECK(!farm::decode_value<farm::Value>(bytes, limits), "decode_value refuses what the verifier refuses");
    return 0;
  }
  auto root = flexbuffers::GetRoot(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  const std::string json = farm::to_json(root);
  FUZZ_CHECK(!json.empty(), "a value prints as JSON");

  round_trip<bool>(bytes, limits);
  round_trip<std::int8_t>(bytes, limits);
  round_trip<std::int64_t>(bytes, limits);
  round_trip<std::uint8_t>(bytes, limits);
  round_trip<std::uint64_t>(bytes, limits);
  round_trip<std::string>(bytes, limits);
  round_trip<farm::Blob>(bytes, limits);
  round_trip<std::vector<std::int32_t>>(bytes, limits);
  round_trip<std::vector<std::string>>(bytes, limits);
  round_trip<std::map<std::string, std::int64_t>>(bytes, limits);
  round_trip<std::optional<std::int64_t>>(bytes, limits);
  round_trip<std::tuple<int, std::string, bool>>(bytes, limits);
  round_trip<std::pair<std::string, std::vector<std::uint16_t>>>(bytes, limits);
  round_trip<std::unordered_map<std::string, std::vector<std::optional<int>>>>(bytes, limits);
  convert_all<double, float, std::string_view, farm::BlobView, std::vector<double>,
              std::map<std::string, std::vector<float>>, farm::Args>(bytes, limits);

  // The deep copy the echo task makes.
  auto value = farm::decode_value<farm::Value>(bytes, limits);
  FUZZ_CHECK(value.has_value(), "a verified buffer is a Value");
  std::vector<std::uint8_t> copy = farm::encode_value(*value);
  FUZZ_CHECK(!farm::verify_flexbuffer(as_bytes(copy), limits), "a copied value verifies under the same limits");
  auto copy_root = flexbuffers::GetRoot(copy.data(), copy.size());
  // The verifier accepts only maps whose keys are strictly ascending, the order the builder writes: the copy
  // prints as exactly the same text.
  const std::string copy_json = farm::to_json(copy_root);
  if (copy_json != json) std::fprintf(stderr, "value: %s\ncopy:  %s\n", json.c_str(), copy_json.c_str());
  FUZZ_CHECK(copy_json == json, "a copied value prints as the same JSON");
  // And every key of a verified map is found by the readers' binary search (a duplicate or unsorted key would not be).
  if (root.IsMap()) {
    flexbuffers::Map map = root.AsMap();
    flexbuffers::TypedVector keys = map.Keys();
    for (std::size_t i = 0; i < keys.size(); ++i)
      FUZZ_CHECK(farm::find_field(map, keys[i].AsKey()).has_value(), "every key of a verified map is found");
  }
  return 0;
}
