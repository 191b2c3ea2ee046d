// reactor/net/endpoint: EndpointSpec::parse and parse_connect on arbitrary text. A spec that parses prints to
// text the same parser reads back to an equal spec (text -> spec -> text is the identity on that output), and
// every refusal is an EndpointErrc that compares equal to std::errc::invalid_argument.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "reactor/net/endpoint.hpp"
#include "test/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool connect = data[0] & 1;  // parse_connect: host names kept, service names looked up
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  auto parse = [connect](std::string_view t) {
    return connect ? rfarm::EndpointSpec::parse_connect(t) : rfarm::EndpointSpec::parse(t);
  };
  auto spec = parse(text);
  if (!spec) {
    FUZZ_CHECK(spec.error() == std::errc::invalid_argument, "a refusal compares equal to invalid_argument");
    FUZZ_CHECK(!spec.error().message().empty(), "a refusal names what is wrong");
    return 0;
  }
  FUZZ_CHECK(connect || !spec->has_host_name(), "parse() keeps no host name to resolve");
  FUZZ_CHECK(spec->has_host_name() || spec->address.family() != rfarm::AddressFamily::unspecified,
             "a spec has an address or a name");
  const std::string printed = spec->to_string();
  auto again = parse(printed);
  FUZZ_CHECK(again.has_value(), "to_string() of a spec parses");
  FUZZ_CHECK(*again == *spec, "parse(to_string(spec)) == spec");
  FUZZ_CHECK(again->to_string() == printed, "printing is a fixed point");
  return 0;
}
