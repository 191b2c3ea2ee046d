// HostsFile: the entries of a hosts(5) file ("127.0.0.1 localhost loopback # comment"), for the Resolver's
// hosts_file option. c-ares 1.18 reads only the system /etc/hosts (or a path in the CARES_HOSTS environment
// variable, which is process-wide state), so a resolver pointed at another file answers from this parse.
//
//     auto hosts = rfarm::HostsFile::parse("127.0.0.1 localhost\n::1 localhost ip6-localhost\n");
//     hosts.find("LOCALHOST");                     // [127.0.0.1:0, [::1]:0]: names match case-insensitively
//     hosts.name_of(Address::loopback_v6(0));      // "localhost": the first name on the address's first line
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lib/error.hpp"
#include "reactor/net/address.hpp"

namespace rfarm {

class HostsFile {
 public:
  // Lines that are not "address name [aliases...]" (a bad address, no name) are skipped, as libc does.
  static HostsFile parse(std::string_view text);
  // Reads and parses path; a missing or unreadable file is an error (the caller asked for this file).
  static Result<HostsFile> load(const std::string& path);

  // Every address listed for name (or an alias), in file order, without duplicates; port 0.
  std::vector<Address> find(std::string_view name) const;
  // The canonical (first) name of the first line listing address (its port is ignored); empty if none.
  std::string name_of(const Address& address) const;

  bool empty() const noexcept { return entries_.empty(); }

 private:
  struct Entry {
    Address address;
    std::vector<std::string> names;  // canonical name first, then aliases
  };
  std::vector<Entry> entries_;
};

}  // namespace rfarm
