// reactor/net/address: Address::parse / from_ip / unix_path / unix_abstract on arbitrary text. Whatever parses
// must print to text that parses back to an equal address (v4, v6 in RFC 5952 form, scopes by interface name or
// index, Unix paths, abstract names), printing is a fixed point, and the sockaddr form converts back losslessly.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "reactor/net/address.hpp"
#include "test/fuzz/fuzz_check.hpp"

namespace {

using rfarm::Address;
using rfarm::AddressFamily;

void check_round_trip(const Address& a) {
  const std::string text = a.to_string();
  FUZZ_CHECK(!text.empty(), "an address prints as something");
  Address again;
  if (a.is_ip()) {
    auto parsed = Address::parse(text);
    FUZZ_CHECK(parsed.has_value(), "to_string() of an IP address parses");
    again = *parsed;
    auto by_host = Address::from_ip(a.ip_string(), a.port());
    FUZZ_CHECK(by_host && *by_host == a, "from_ip(ip_string(), port()) gives the address back");
  } else {
    FUZZ_CHECK(a.family() == AddressFamily::unix_domain, "a parsed address has a family");
    auto parsed = a.is_abstract() ? Address::unix_abstract(a.unix_name()) : Address::unix_path(a.unix_name());
    FUZZ_CHECK(parsed.has_value(), "a Unix address's name makes the address again");
    FUZZ_CHECK(text == (a.is_abstract() ? "@" : "") + std::string(a.unix_name()), "Unix text is @name or the path");
    again = *parsed;
  }
  FUZZ_CHECK(again == a, "parse(to_string(a)) == a");
  FUZZ_CHECK(again.hash() == a.hash(), "equal addresses hash alike");
  FUZZ_CHECK(again.to_string() == text, "printing is a fixed point");
  auto native = Address::from_sockaddr(a.storage(), a.native_length());
  FUZZ_CHECK(native && *native == a, "the sockaddr form converts back to the same address");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  // data[0] picks the entry point, data[1..2] a port for from_ip; the rest is the text.
  const std::uint16_t port = static_cast<std::uint16_t>(data[1] | (data[2] << 8));
  const std::string_view text(reinterpret_cast<const char*>(data + 3), size - 3);
  rfarm::Result<Address> a;
  switch (data[0] % 4) {
    case 0: a = Address::parse(text); break;
    case 1: a = Address::from_ip(text, port); break;
    case 2: a = Address::unix_path(text); break;
    default: a = Address::unix_abstract(text); break;
  }
  if (a) check_round_trip(*a);
  else FUZZ_CHECK(a.error() == std::errc::invalid_argument || a.error() == std::errc::filename_too_long,
                  "a refusal is invalid_argument (or a name too long for sun_path)");
  return 0;
}
