#include "reactor/net/address.hpp"

#include <arpa/inet.h>
#include <net/if.h>

#include <charconv>
#include <cstring>

namespace rfarm {

namespace {

Result<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 65535)
    return fail(Errc::invalid_port);
  return static_cast<std::uint16_t>(value);
}

// A numeric scope is taken as the index itself; a name must be an existing interface (RFC 4007 section 11).
Result<std::uint32_t> parse_scope(std::string_view scope) {
  if (scope.empty() || scope.size() >= IF_NAMESIZE) return fail(Errc::invalid_scope);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(scope.data(), scope.data() + scope.size(), value);
  if (ec == std::errc() && end == scope.data() + scope.size()) return value;
  std::string name(scope);
  unsigned index = ::if_nametoindex(name.c_str());
  if (index == 0) return fail(Errc::invalid_scope);
  return index;
}

void append_hex(std::string& out, std::uint16_t word) {
  char buf[4];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, word, 16);  // lowercase, no leading zeros
  out.append(buf, end);
}

void append_ipv4(std::string& out, const std::uint8_t* o) {
  for (int i = 0; i < 4; ++i) {
    if (i) out += '.';
    out += std::to_string(o[i]);
  }
}

}  // namespace

// RFC 5952 section 4: lowercase hex without leading zeros; the longest run of two or more zero groups
// becomes "::" (the leftmost run on a tie); a single zero group stays "0". Section 5: IPv4-mapped addresses
// end in dotted decimal. glibc's inet_ntop also prints the deprecated IPv4-compatible form (::0.2.0.2 for
// ::2:2, RFC 4291 section 2.5.5.1), so rfarm formats IPv6 itself.
std::string format_ipv6(std::span<const std::uint8_t, 16> octets) {
  std::uint16_t words[8];
  for (int i = 0; i < 8; ++i) words[i] = static_cast<std::uint16_t>(octets[2 * i] << 8 | octets[2 * i + 1]);

  std::string out;
  bool mapped = words[0] == 0 && words[1] == 0 && words[2] == 0 && words[3] == 0 && words[4] == 0 &&
                words[5] == 0xffff;
  if (mapped) {
    out = "::ffff:";
    append_ipv4(out, octets.data() + 12);
    return out;
  }

  int best_start = -1, best_length = 0;
  for (int i = 0; i < 8;) {
    if (words[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && words[j] == 0) ++j;
    if (j - i > best_length) {  // strictly longer: the leftmost run wins a tie
      best_start = i;
      best_length = j - i;
    }
    i = j;
  }
  if (best_length < 2) best_start = -1;

  for (int i = 0; i < 8; ++i) {
    if (i == best_start) {
      out += "::";
      i += best_length - 1;
      continue;
    }
    if (i > 0 && i != best_start + best_length) out += ':';
    append_hex(out, words[i]);
  }
  return out;
}

Address Address::ipv4(std::array<std::uint8_t, 4> octets, std::uint16_t port) noexcept {
  Address a;
  auto* sin = reinterpret_cast<sockaddr_in*>(&a.storage_);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  std::memcpy(&sin->sin_addr, octets.data(), 4);
  a.length_ = sizeof(sockaddr_in);
  return a;
}

Address Address::ipv6(const std::array<std::uint8_t, 16>& octets, std::uint16_t port, std::uint32_t scope_id) noexcept {
  Address a;
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  sin6->sin6_scope_id = scope_id;
  std::memcpy(&sin6->sin6_addr, octets.data(), 16);
  a.length_ = sizeof(sockaddr_in6);
  return a;
}

Address Address::loopback_v6(std::uint16_t port) noexcept {
  std::array<std::uint8_t, 16> o{};
  o[15] = 1;
  return ipv6(o, port);
}

Address Address::any_v6(std::uint16_t port) noexcept { return ipv6({}, port); }

Result<Address> Address::from_ip(std::string_view ip, std::uint16_t port) {
  std::string_view host = ip;
  std::string_view scope;
  bool has_scope = false;
  if (auto pct = host.find('%'); pct != std::string_view::npos) {
    scope = host.substr(pct + 1);
    host = host.substr(0, pct);
    has_scope = true;
  }
  if (host.empty() || host.size() >= INET6_ADDRSTRLEN) return fail(Errc::invalid_ip);
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, host.data(), host.size());
  buf[host.size()] = '\0';
  std::array<std::uint8_t, 16> octets{};
  if (::inet_pton(AF_INET, buf, octets.data()) == 1) {
    if (has_scope) return fail(Errc::invalid_scope);  // zones are an IPv6 notion (RFC 4007)
    return ipv4({octets[0], octets[1], octets[2], octets[3]}, port);
  }
  if (::inet_pton(AF_INET6, buf, octets.data()) != 1) return fail(Errc::invalid_ip);
  std::uint32_t scope_id = 0;
  if (has_scope) {
    auto parsed = parse_scope(scope);
    if (!parsed) return fail(parsed.error());
    scope_id = *parsed;
  }
  return ipv6(octets, port, scope_id);
}

Result<Address> Address::parse(std::string_view text) {
  if (text.empty()) return fail(Errc::invalid_address);
  std::string_view host = text;
  std::string_view port_text;
  bool has_port = false;
  bool bracketed = text.starts_with('[');
  if (bracketed) {
    auto close = text.find(']');
    if (close == std::string_view::npos) return fail(Errc::invalid_address);
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return fail(Errc::invalid_address);
      port_text = rest.substr(1);
      has_port = true;
    }
  } else if (auto colon = text.find(':');
             colon != std::string_view::npos && text.find(':', colon + 1) == std::string_view::npos) {
    host = text.substr(0, colon);  // one colon: IPv4 with port (an IPv6 literal has at least two)
    port_text = text.substr(colon + 1);
    has_port = true;
  }
  // Left to right: a bad host is reported before a bad port.
  auto address = from_ip(host, 0);
  if (!address) return address;
  if (bracketed && address->family() != AddressFamily::ipv6) return fail(Errc::invalid_ip);
  if (has_port) {
    auto port = parse_port(port_text);
    if (!port) return fail(port.error());
    address->set_port(*port);
  }
  return address;
}

Result<Address> Address::unix_path(std::string_view path) {
  Address a;
  auto* sun = reinterpret_cast<sockaddr_un*>(&a.storage_);
  if (path.empty() || path.size() >= sizeof(sun->sun_path)) return fail(std::make_error_code(std::errc::filename_too_long));
  sun->sun_family = AF_UNIX;
  std::memcpy(sun->sun_path, path.data(), path.size());
  a.length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return a;
}

Result<Address> Address::unix_abstract(std::string_view name) {
  Address a;
  auto* sun = reinterpret_cast<sockaddr_un*>(&a.storage_);
  if (name.size() + 1 > sizeof(sun->sun_path)) return fail(std::make_error_code(std::errc::filename_too_long));
  sun->sun_family = AF_UNIX;
  sun->sun_path[0] = '\0';  // Linux abstract namespace: leading NUL, length-delimited (unix(7))
  std::memcpy(sun->sun_path + 1, name.data(), name.size());
  a.length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  return a;
}

Result<Address> Address::from_sockaddr(const sockaddr* sa, socklen_t length) {
  if (!sa || length < sizeof(sa_family_t) || length > sizeof(sockaddr_storage)) return fail(Errc::invalid_address);
  switch (sa->sa_family) {
    case AF_INET:
      if (length < sizeof(sockaddr_in)) return fail(Errc::invalid_address);
      length = sizeof(sockaddr_in);
      break;
    case AF_INET6:
      if (length < sizeof(sockaddr_in6)) return fail(Errc::invalid_address);
      length = sizeof(sockaddr_in6);
      break;
    case AF_UNIX: break;
    default: return fail(std::make_error_code(std::errc::address_family_not_supported));
  }
  Address a;
  std::memcpy(&a.storage_, sa, length);
  a.length_ = length;
  if (sa->sa_family == AF_UNIX) {
    // A filesystem path's length may include the terminating NUL or not; normalise to "with NUL".
    auto* sun = reinterpret_cast<sockaddr_un*>(&a.storage_);
    std::size_t n = length - offsetof(sockaddr_un, sun_path);
    if (n > 0 && sun->sun_path[0] != '\0') {
      n = ::strnlen(sun->sun_path, n);
      a.length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n + 1);
    }
  }
  return a;
}

AddressFamily Address::family() const noexcept {
  switch (storage_.ss_family) {
    case AF_INET: return AddressFamily::ipv4;
    case AF_INET6: return AddressFamily::ipv6;
    case AF_UNIX: return AddressFamily::unix_domain;
    default: return AddressFamily::unspecified;
  }
}

std::uint16_t Address::port() const noexcept {
  switch (family()) {
    case AddressFamily::ipv4: return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    case AddressFamily::ipv6: return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    default: return 0;
  }
}

void Address::set_port(std::uint16_t port) noexcept {
  if (family() == AddressFamily::ipv4) reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
  if (family() == AddressFamily::ipv6) reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
}

std::uint32_t Address::scope_id() const noexcept {
  return family() == AddressFamily::ipv6 ? reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_scope_id : 0;
}

std::span<const std::uint8_t> Address::octets() const noexcept {
  if (family() == AddressFamily::ipv4)
    return {reinterpret_cast<const std::uint8_t*>(&reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr), 4};
  if (family() == AddressFamily::ipv6)
    return {reinterpret_cast<const std::uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr), 16};
  return {};
}

bool Address::is_abstract() const noexcept {
  return family() == AddressFamily::unix_domain && length_ > offsetof(sockaddr_un, sun_path) &&
         reinterpret_cast<const sockaddr_un*>(&storage_)->sun_path[0] == '\0';
}

std::string_view Address::unix_name() const noexcept {
  if (family() != AddressFamily::unix_domain || length_ <= offsetof(sockaddr_un, sun_path)) return {};
  const char* path = reinterpret_cast<const sockaddr_un*>(&storage_)->sun_path;
  std::size_t n = length_ - offsetof(sockaddr_un, sun_path);
  if (path[0] == '\0') return {path + 1, n - 1};
  return {path, ::strnlen(path, n)};
}

std::string Address::ip_string() const {
  if (family() == AddressFamily::ipv4) {
    std::string s;
    append_ipv4(s, octets().data());
    return s;
  }
  if (family() == AddressFamily::ipv6) {
    std::string s = format_ipv6(octets().first<16>());
    if (std::uint32_t scope = scope_id()) {
      char name[IF_NAMESIZE];
      s += '%';
      s += ::if_indextoname(scope, name) ? std::string(name) : std::to_string(scope);
    }
    return s;
  }
  return {};
}

std::string Address::to_string() const {
  switch (family()) {
    case AddressFamily::ipv4: return ip_string() + ':' + std::to_string(port());
    case AddressFamily::ipv6: return '[' + ip_string() + "]:" + std::to_string(port());
    case AddressFamily::unix_domain: return is_abstract() ? '@' + std::string(unix_name()) : std::string(unix_name());
    default: return "unspecified";
  }
}

bool operator==(const Address& a, const Address& b) noexcept {
  if (a.family() != b.family()) return false;
  switch (a.family()) {
    case AddressFamily::ipv4:
    case AddressFamily::ipv6: {
      auto x = a.octets(), y = b.octets();
      return a.port() == b.port() && a.scope_id() == b.scope_id() && std::memcmp(x.data(), y.data(), x.size()) == 0;
    }
    case AddressFamily::unix_domain: return a.is_abstract() == b.is_abstract() && a.unix_name() == b.unix_name();
    default: return true;
  }
}

std::size_t Address::hash() const noexcept {
  std::size_t h = std::hash<int>{}(storage_.ss_family);
  auto mix = [&h](std::size_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
  if (is_ip()) {
    for (std::uint8_t o : octets()) mix(o);
    mix(port());
    mix(scope_id());
  } else {
    mix(std::hash<std::string_view>{}(unix_name()));
    mix(is_abstract());
  }
  return h;
}

}  // namespace rfarm
