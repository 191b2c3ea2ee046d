#include "reactor/dns/hosts_file.hpp"

#include <strings.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace rfarm {

namespace {

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Splits a line at blanks (spaces and tabs).
std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

bool same_ip(const Address& a, const Address& b) {
  return a.family() == b.family() && std::ranges::equal(a.octets(), b.octets());
}

}  // namespace

HostsFile HostsFile::parse(std::string_view text) {
  HostsFile hosts;
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto fields = fields_of(line);
    if (fields.size() < 2) continue;
    auto address = Address::from_ip(fields[0], 0);
    if (!address) continue;
    Entry entry{*address, {}};
    for (std::size_t i = 1; i < fields.size(); ++i) entry.names.emplace_back(fields[i]);
    hosts.entries_.push_back(std::move(entry));
  }
  return hosts;
}

Result<HostsFile> HostsFile::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail(errno != 0 ? last_errno() : errno_code(ENOENT));
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str());
}

std::vector<Address> HostsFile::find(std::string_view name) const {
  std::vector<Address> found;
  for (const Entry& entry : entries_) {
    bool listed = std::ranges::any_of(entry.names, [&](const std::string& n) { return same_name(n, name); });
    if (listed && std::ranges::find(found, entry.address) == found.end()) found.push_back(entry.address);
  }
  return found;
}

std::string HostsFile::name_of(const Address& address) const {
  for (const Entry& entry : entries_)
    if (same_ip(entry.address, address)) return entry.names.front();
  return {};
}

}  // namespace rfarm
