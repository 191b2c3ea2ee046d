// Address: an IPv4, IPv6 (with scope id) or Unix-domain (path or Linux abstract name) socket address.
//
//     auto a = rfarm::Address::parse("[fe80::1%eth0]:8080").value();
//     a.to_string();                  // "[fe80::1%eth0]:8080"  (IPv6 in RFC 5952 canonical form)
//     rfarm::Address::unix_path("/run/farm.sock");
//     rfarm::Address::unix_abstract("farm");   // prints as "@farm"
//
// Conversion to and from sockaddr_storage is lossless; equality and std::hash compare the meaningful bytes.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "lib/error.hpp"

namespace rfarm {

enum class AddressFamily : std::uint8_t { unspecified, ipv4, ipv6, unix_domain };

class Address {
 public:
  // An unspecified address (family() == unspecified).
  Address() noexcept = default;

  // "1.2.3.4:80", "[::1]:80", "[fe80::1%eth0]:80", "[fe80::1%2]:80"; a bare IP without port gets port 0.
  // Unix addresses have their own factories (a path has no unambiguous text form here).
  // A failure says which part was bad (all compare equal to Condition::invalid_address and
  // std::errc::invalid_argument): Errc::invalid_ip (the host), invalid_port, invalid_scope (an empty or unknown
  // zone, or a zone on IPv4), invalid_address (the shape: empty text, "[" without "]", junk after "]").
  static Result<Address> parse(std::string_view text);
  // Host literal and port separately ("::1", 80; "fe80::1%eth0", 80). Errors as for parse().
  static Result<Address> from_ip(std::string_view ip, std::uint16_t port);
  static Address ipv4(std::array<std::uint8_t, 4> octets, std::uint16_t port) noexcept;
  static Address ipv6(const std::array<std::uint8_t, 16>& octets, std::uint16_t port, std::uint32_t scope_id = 0) noexcept;
  static Address loopback_v4(std::uint16_t port) noexcept { return ipv4({127, 0, 0, 1}, port); }
  static Address loopback_v6(std::uint16_t port) noexcept;
  static Address any_v4(std::uint16_t port) noexcept { return ipv4({0, 0, 0, 0}, port); }
  static Address any_v6(std::uint16_t port) noexcept;
  static Result<Address> unix_path(std::string_view path);
  static Result<Address> unix_abstract(std::string_view name);
  // From what the kernel filled in (accept, getsockname, recvmsg); the way back is storage() with
  // native_length(), or native() for the sockaddr pointer. Unsupported families: address_family_not_supported.
  static Result<Address> from_sockaddr(const sockaddr* sa, socklen_t length);
  static Result<Address> from_sockaddr(const sockaddr_storage& ss, socklen_t length) {
    return from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), length);
  }

  AddressFamily family() const noexcept;
  bool is_ip() const noexcept { return family() == AddressFamily::ipv4 || family() == AddressFamily::ipv6; }
  int native_family() const noexcept { return storage_.ss_family; }
  std::uint16_t port() const noexcept;
  void set_port(std::uint16_t port) noexcept;
  std::uint32_t scope_id() const noexcept;

  // The IP address octets (4 or 16); empty for Unix addresses.
  std::span<const std::uint8_t> octets() const noexcept;
  // Path or abstract name (without the leading NUL) of a Unix address.
  std::string_view unix_name() const noexcept;
  bool is_abstract() const noexcept;

  // "1.2.3.4:80", "[::1]:80", "/run/x.sock", "@abstract"; ip_string() is the host part alone. IPv6 is in
  // RFC 5952 form (format_ipv6) and a scope prints as the interface name, or its index if it has none.
  std::string to_string() const;
  std::string ip_string() const;

  const sockaddr* native() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* native() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t native_length() const noexcept { return length_; }
  const sockaddr_storage& storage() const noexcept { return storage_; }

  friend bool operator==(const Address& a, const Address& b) noexcept;
  std::size_t hash() const noexcept;

 private:
  sockaddr_storage storage_{};
  socklen_t length_ = 0;
};

// RFC 5952 canonical text of an IPv6 address, without a scope: "2001:db8::1:0:0:1", "::ffff:192.0.2.1".
std::string format_ipv6(std::span<const std::uint8_t, 16> octets);

}  // namespace rfarm

template <>
struct std::hash<rfarm::Address> {
  std::size_t operator()(const rfarm::Address& a) const noexcept { return a.hash(); }
};
