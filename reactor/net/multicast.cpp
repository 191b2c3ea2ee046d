#include "reactor/net/multicast.hpp"

#include <net/if.h>

#include <cstring>
#include <string>

namespace rfarm::multicast {

namespace {
int level_of(const Address& group) noexcept {
  return group.family() == AddressFamily::ipv6 ? IPPROTO_IPV6 : IPPROTO_IP;
}
}  // namespace

Result<unsigned> interface_index(std::string_view name) {
  std::string text(name);
  unsigned index = ::if_nametoindex(text.c_str());
  if (index == 0) return fail_errno();
  return index;
}

Membership::Membership(int name, const Address& group, unsigned interface) noexcept
    : level_(level_of(group)), name_(name), source_specific_(false) {
  any_.gr_interface = interface;
  std::memcpy(&any_.gr_group, &group.storage(), group.native_length());
}

Membership::Membership(int name, const Address& group, const Address& source, unsigned interface) noexcept
    : level_(level_of(group)), name_(name), source_specific_(true) {
  with_source_.gsr_interface = interface;
  std::memcpy(&with_source_.gsr_group, &group.storage(), group.native_length());
  std::memcpy(&with_source_.gsr_source, &source.storage(), source.native_length());
}

}  // namespace rfarm::multicast
