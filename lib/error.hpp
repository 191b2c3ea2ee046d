// Error reporting for rfarm: std::error_code everywhere, std::expected for values.
//
// OS failures are reported in std::system_category(), whose default_error_condition() maps errno values to
// the portable std::errc conditions, so callers can write
//     if (ec == std::errc::connection_refused) ...
// and the raw errno is still ec.value(). rfarm's own failures (not errno) use rfarm::Errc below, which
// also maps onto portable conditions where one fits.
#pragma once

#include <cerrno>
#include <expected>
#include <system_error>

namespace rfarm {

template <class T>
using Result = std::expected<T, std::error_code>;

// Failures that are not an errno.
enum class Errc : int {
  ok = 0,
  end_of_stream,          // peer closed before the requested bytes arrived (recv_exactly, read_line)
  operation_in_progress,  // a second operation of a kind that allows only one at a time
  timed_out,              // an rfarm-side deadline (connect timeout, handshake timeout) expired
  backend_unavailable,    // the requested I/O backend cannot run on this kernel
  invalid_address,        // address text malformed as a whole (missing ']', junk after it, empty)
  line_too_long,          // a delimited read exceeded its length limit
  control_truncated,      // ancillary data did not fit (MSG_CTRUNC): passed descriptors were lost
  host_not_found,         // a name lookup found no such host (DNS NXDOMAIN, not in the hosts file)
  no_address,             // the host exists but has no address of the family asked for (DNS NODATA)
  service_not_found,      // a service name that /etc/services does not list
  name_server_failure,    // the name servers failed, refused or answered garbage (SERVFAIL, REFUSED)
  invalid_ip,             // the host part is not an IPv4 or IPv6 literal
  invalid_port,           // the port is missing, not a number, or above 65535
  invalid_scope,          // the "%scope" is empty, names no interface, or follows an IPv4 address
  frame_too_large,        // a length-prefixed frame declared more than the reader's maximum
  empty_frame,            // a zero-length frame where the protocol forbids one
  truncated_frame,        // the stream ended inside a frame (its header or its payload)
  unix_path_in_use,       // a live socket holds the Unix socket path (like std::errc::address_in_use)
  unix_path_not_socket,   // the Unix socket path names a file that is not a socket (like std::errc::file_exists)
  message_truncated,      // a datagram / record longer than the buffer was cut (MSG_TRUNC; like message_size)
};

const std::error_category& rfarm_category() noexcept;

inline std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), rfarm_category()}; }

// Portable conditions for network failures. std::errc covers most of them, but not EHOSTDOWN or ESHUTDOWN
// (libstdc++ maps those to no generic condition), and it has no "none of the above": Condition names each
// one rfarm callers branch on, so
//     if (ec == rfarm::Condition::host_down) ...          // EHOSTDOWN
//     switch (rfarm::condition_of(ec)) { ... }           // Condition::unknown: look at ec.value() (errno)
// A Condition matches the errno in system_category() and generic_category(); timed_out also matches
// rfarm's own Errc::timed_out (a connect deadline), invalid_address every address-text Errc, and
// address_in_use Errc::unix_path_in_use.
enum class Condition : int {
  address_in_use = 1,      // EADDRINUSE
  address_not_available,   // EADDRNOTAVAIL
  network_down,            // ENETDOWN
  network_reset,           // ENETRESET
  network_unreachable,     // ENETUNREACH
  host_down,               // EHOSTDOWN (no std::errc)
  host_unreachable,        // EHOSTUNREACH
  connection_aborted,      // ECONNABORTED
  connection_reset,        // ECONNRESET
  connection_refused,      // ECONNREFUSED
  timed_out,               // ETIMEDOUT, Errc::timed_out
  no_buffer_space,         // ENOBUFS
  shutdown,                // ESHUTDOWN (no std::errc)
  protocol_not_available,  // ENOPROTOOPT
  invalid_address,         // Errc::invalid_address / invalid_ip / invalid_port / invalid_scope
  unknown,                 // any other failure: the raw errno (or rfarm code) stays in the error_code
};

const std::error_category& condition_category() noexcept;

inline std::error_condition make_error_condition(Condition c) noexcept {
  return {static_cast<int>(c), condition_category()};
}

// The Condition a failure matches, or unknown (ec.value() keeps the errno). Meant for failures: a success
// has no condition and gives unknown too.
Condition condition_of(const std::error_code& ec) noexcept;

// errno (positive) to error_code.
inline std::error_code errno_code(int err) noexcept { return {err, std::system_category()}; }
inline std::error_code last_errno() noexcept { return errno_code(errno); }

// Kernel-style result (>= 0 value, < 0 -errno) to error_code; 0 if non-negative.
inline std::error_code code_from_result(int result) noexcept {
  return result < 0 ? errno_code(-result) : std::error_code{};
}

inline std::unexpected<std::error_code> fail(std::error_code ec) noexcept { return std::unexpected(ec); }
inline std::unexpected<std::error_code> fail(Errc e) noexcept { return std::unexpected(make_error_code(e)); }
inline std::unexpected<std::error_code> fail_errno() noexcept { return std::unexpected(last_errno()); }

}  // namespace rfarm

template <>
struct std::is_error_code_enum<rfarm::Errc> : std::true_type {};
template <>
struct std::is_error_condition_enum<rfarm::Condition> : std::true_type {};
