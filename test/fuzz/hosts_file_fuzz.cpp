// reactor/dns/hosts_file: HostsFile::parse on arbitrary text, then lookups by every word of the text. Beyond not
// crashing: lookups ignore ASCII case, give port-0 addresses without duplicates, and the canonical name of an
// address found for a name leads back to that address.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "reactor/dns/hosts_file.hpp"
#include "test/fuzz/fuzz_check.hpp"

namespace {

std::vector<std::string_view> words_of(std::string_view text, std::size_t max_words) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < text.size() && words.size() < max_words) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n')) ++i;
    std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\n') ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const rfarm::HostsFile hosts = rfarm::HostsFile::parse(text);
  for (std::string_view word : words_of(text, 32)) {
    const std::vector<rfarm::Address> found = hosts.find(word);
    FUZZ_CHECK(hosts.find(ascii_upper(word)) == found, "names match whatever their ASCII case");
    for (std::size_t i = 0; i < found.size(); ++i) {
      const rfarm::Address& a = found[i];
      FUZZ_CHECK(a.is_ip() && a.port() == 0, "a hosts entry is an IP address with port 0");
      for (std::size_t j = 0; j < i; ++j) FUZZ_CHECK(!(found[j] == a), "no address is listed twice");
      const std::string canonical = hosts.name_of(a);
      FUZZ_CHECK(!canonical.empty(), "an address found by name has a canonical name");
      bool back = false;
      for (const auto& b : hosts.find(canonical)) back = back || std::ranges::equal(b.octets(), a.octets());
      FUZZ_CHECK(back, "the canonical name leads back to the address");
    }
  }
  return 0;
}
