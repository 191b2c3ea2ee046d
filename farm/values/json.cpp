#include "farm/values/json.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>

#include "farm/values/value_kind.hpp"
#include "farm/values/vector_view.hpp"

namespace rfarm::farm {
namespace {

template <class Number>
void append_number(std::string& out, Number n) {
  char digits[32];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out.append(digits, end);
}

void append_double(std::string& out, double d) {
  if (std::isnan(d)) {
    out += "NaN";
    return;
  }
  if (std::isinf(d)) {
    out += d < 0 ? "-Infinity" : "Infinity";
    return;
  }
  std::size_t start = out.size();
  append_number(out, d);
  if (out.find_first_of(".e", start) == std::string::npos) out += ".0";
}

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlongs, no surrogates, at most U+10FFFF),
// or 0 if the bytes there are not one.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  auto continuation = [&](std::size_t k) { return k < s.size() && (byte(k) & 0xC0) == 0x80; };
  unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) return continuation(i + 1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!continuation(i + 1) || !continuation(i + 2)) return 0;
    unsigned char b1 = byte(i + 1);
    if (b0 == 0xE0 && b1 < 0xA0) return 0;  // overlong
    if (b0 == 0xED && b1 > 0x9F) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!continuation(i + 1) || !continuation(i + 2) || !continuation(i + 3)) return 0;
    unsigned char b1 = byte(i + 1);
    if (b0 == 0xF0 && b1 < 0x90) return 0;  // overlong
    if (b0 == 0xF4 && b1 > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      std::size_t n = utf8_sequence_length(text, i);
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(text.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

void append_base64(std::string& out, ConstBytes bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = (std::to_integer<std::uint32_t>(bytes[i]) << 16) |
                      (std::to_integer<std::uint32_t>(bytes[i + 1]) << 8) |
                      std::to_integer<std::uint32_t>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  std::size_t rest = bytes.size() - i;
  if (rest == 0) return;
  std::uint32_t v = std::to_integer<std::uint32_t>(bytes[i]) << 16;
  if (rest == 2) v |= std::to_integer<std::uint32_t>(bytes[i + 1]) << 8;
  out += kAlphabet[(v >> 18) & 63];
  out += kAlphabet[(v >> 12) & 63];
  out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
  out += '=';
}

void append_json(std::string& out, const flexbuffers::Reference& value) {
  switch (kind_of(value)) {
    case ValueKind::null: out += "null"; return;
    case ValueKind::boolean: out += value.AsBool() ? "true" : "false"; return;
    case ValueKind::integer:
      if (value.IsInt()) {
        append_number(out, value.AsInt64());
      } else {
        append_number(out, value.AsUInt64());
      }
      return;
    case ValueKind::floating: append_double(out, value.AsDouble()); return;
    case ValueKind::string: {
      flexbuffers::String s = value.AsString();
      append_json_string(out, std::string_view(s.c_str(), s.length()));
      return;
    }
    case ValueKind::blob: {
      flexbuffers::Blob blob = value.AsBlob();
      out += '"';
      append_base64(out, ConstBytes(reinterpret_cast<const std::byte*>(blob.data()), blob.size()));
      out += '"';
      return;
    }
    case ValueKind::vector: {
      VectorView view = *VectorView::of(value);
      out += '[';
      for (std::size_t i = 0; i < view.size(); ++i) {
        if (i) out += ", ";
        append_json(out, view[i]);
      }
      out += ']';
      return;
    }
    case ValueKind::map: {
      flexbuffers::Map map = value.AsMap();
      flexbuffers::TypedVector keys = map.Keys();
      flexbuffers::Vector values = map.Values();
      out += '{';
      for (std::size_t i = 0; i < values.size(); ++i) {
        if (i) out += ", ";
        append_json_string(out, keys[i].AsKey());
        out += ": ";
        append_json(out, values[i]);
      }
      out += '}';
      return;
    }
  }
}

std::string to_json(const flexbuffers::Reference& value) {
  std::string out;
  append_json(out, value);
  return out;
}

std::string to_display_text(const flexbuffers::Reference& value) {
  if (kind_of(value) == ValueKind::string) {
    flexbuffers::String s = value.AsString();
    return std::string(s.c_str(), s.length());
  }
  return to_json(value);
}

}  // namespace rfarm::farm
