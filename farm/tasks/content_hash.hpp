// SHA-256 of bytes as lowercase hex: the name a shipped module is stored and recognised by.
//
//     std::string id = sha256_hex(as_bytes(std::string_view("abc"))).value();   // "ba7816bf..."
#pragma once

#include <string>
#include <string_view>

#include "lib/bytes.hpp"
#include "lib/error.hpp"

namespace rfarm::farm {

// OpenSSL's EVP SHA-256. Fails (std::errc::not_enough_memory) only if OpenSSL cannot allocate.
Result<std::string> sha256_hex(ConstBytes bytes);

// 64 lowercase hex digits.
bool is_sha256_hex(std::string_view text) noexcept;

}  // namespace rfarm::farm
