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
  invalid_address,        // text that does not parse as an address
  line_too_long,          // a delimited read exceeded its length limit
  control_truncated,      // ancillary data did not fit (MSG_CTRUNC): passed descriptors were lost
  host_not_found,         // a name lookup found no such host (DNS NXDOMAIN, not in the hosts file)
  no_address,             // the host exists but has no address of the family asked for (DNS NODATA)
  service_not_found,      // a service name that /etc/services does not list
  name_server_failure,    // the name servers failed, refused or answered garbage (SERVFAIL, REFUSED)
};

const std::error_category& rfarm_category() noexcept;

inline std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), rfarm_category()}; }

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
