#include "lib/error.hpp"

#include <string>

namespace rfarm {
namespace {

class RfarmCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "rfarm"; }

  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::ok: return "success";
      case Errc::end_of_stream: return "end of stream";
      case Errc::operation_in_progress: return "an operation of this kind is already in progress";
      case Errc::timed_out: return "timed out";
      case Errc::backend_unavailable: return "I/O backend unavailable";
      case Errc::invalid_address: return "invalid address";
      case Errc::line_too_long: return "line exceeds the length limit";
      case Errc::control_truncated: return "ancillary data truncated (MSG_CTRUNC): passed descriptors were lost";
      case Errc::host_not_found: return "host not found";
      case Errc::no_address: return "the host has no address of the requested family";
      case Errc::service_not_found: return "service not found";
      case Errc::name_server_failure: return "the name servers failed to answer";
      case Errc::invalid_ip: return "invalid address: the host is not an IPv4 or IPv6 literal";
      case Errc::invalid_port: return "invalid address: the port is missing, not a number or above 65535";
      case Errc::invalid_scope: return "invalid address: the scope is empty, unknown, or on an IPv4 address";
      case Errc::frame_too_large: return "frame exceeds the size limit";
      case Errc::empty_frame: return "zero-length frame";
      case Errc::truncated_frame: return "stream ended inside a frame";
      case Errc::unix_path_in_use: return "a live socket holds this Unix socket path (is another server running?)";
      case Errc::unix_path_not_socket:
        return "the Unix socket path names an existing file that is not a socket (left untouched)";
      case Errc::message_truncated:
        return "message truncated (MSG_TRUNC): longer than the receive buffer, the rest was discarded";
    }
    return "unknown rfarm error";
  }

  std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<Errc>(value)) {
      case Errc::operation_in_progress: return std::errc::operation_in_progress;
      case Errc::timed_out: return std::errc::timed_out;
      case Errc::backend_unavailable: return std::errc::function_not_supported;
      case Errc::invalid_address:
      case Errc::invalid_ip:
      case Errc::invalid_port:
      case Errc::invalid_scope: return std::errc::invalid_argument;
      case Errc::line_too_long:
      case Errc::frame_too_large: return std::errc::message_size;
      case Errc::empty_frame:
      case Errc::truncated_frame: return std::errc::bad_message;
      case Errc::unix_path_in_use: return std::errc::address_in_use;
      case Errc::unix_path_not_socket: return std::errc::file_exists;
      case Errc::message_truncated: return std::errc::message_size;
      default: return {value, *this};
    }
  }
};

// errno of each errno-backed Condition (0: none).
int errno_of(Condition c) noexcept {
  switch (c) {
    case Condition::address_in_use: return EADDRINUSE;
    case Condition::address_not_available: return EADDRNOTAVAIL;
    case Condition::network_down: return ENETDOWN;
    case Condition::network_reset: return ENETRESET;
    case Condition::network_unreachable: return ENETUNREACH;
    case Condition::host_down: return EHOSTDOWN;
    case Condition::host_unreachable: return EHOSTUNREACH;
    case Condition::connection_aborted: return ECONNABORTED;
    case Condition::connection_reset: return ECONNRESET;
    case Condition::connection_refused: return ECONNREFUSED;
    case Condition::timed_out: return ETIMEDOUT;
    case Condition::no_buffer_space: return ENOBUFS;
    case Condition::shutdown: return ESHUTDOWN;
    case Condition::protocol_not_available: return ENOPROTOOPT;
    case Condition::invalid_address:
    case Condition::unknown: return 0;
  }
  return 0;
}

constexpr Condition kKnownConditions[] = {
    Condition::address_in_use,     Condition::address_not_available, Condition::network_down,
    Condition::network_reset,      Condition::network_unreachable,   Condition::host_down,
    Condition::host_unreachable,   Condition::connection_aborted,    Condition::connection_reset,
    Condition::connection_refused, Condition::timed_out,             Condition::no_buffer_space,
    Condition::shutdown,           Condition::protocol_not_available, Condition::invalid_address,
};

bool matches(const std::error_code& code, Condition c) noexcept {
  if (!code) return false;
  const std::error_category& category = code.category();
  if (category == std::system_category() || category == std::generic_category()) {
    int err = errno_of(c);
    return err != 0 && code.value() == err;
  }
  if (category == rfarm_category()) {
    switch (static_cast<Errc>(code.value())) {
      case Errc::timed_out: return c == Condition::timed_out;
      case Errc::invalid_address:
      case Errc::invalid_ip:
      case Errc::invalid_port:
      case Errc::invalid_scope: return c == Condition::invalid_address;
      case Errc::unix_path_in_use: return c == Condition::address_in_use;
      default: return false;
    }
  }
  return false;
}

class ConditionCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "rfarm.condition"; }

  std::string message(int value) const override {
    switch (static_cast<Condition>(value)) {
      case Condition::address_in_use: return "address in use";
      case Condition::address_not_available: return "address not available";
      case Condition::network_down: return "network down";
      case Condition::network_reset: return "network dropped the connection on reset";
      case Condition::network_unreachable: return "network unreachable";
      case Condition::host_down: return "host down";
      case Condition::host_unreachable: return "host unreachable";
      case Condition::connection_aborted: return "connection aborted";
      case Condition::connection_reset: return "connection reset";
      case Condition::connection_refused: return "connection refused";
      case Condition::timed_out: return "timed out";
      case Condition::no_buffer_space: return "no buffer space";
      case Condition::shutdown: return "endpoint shut down";
      case Condition::protocol_not_available: return "protocol (option) not available";
      case Condition::invalid_address: return "invalid address";
      case Condition::unknown: return "unknown failure";
    }
    return "unknown condition";
  }

  // How `ec == Condition::x` is decided; unknown matches a failure that matches nothing else.
  bool equivalent(const std::error_code& code, int condition) const noexcept override {
    auto c = static_cast<Condition>(condition);
    if (c == Condition::unknown) return code && condition_of(code) == Condition::unknown;
    return matches(code, c);
  }
};

}  // namespace

const std::error_category& rfarm_category() noexcept {
  static const RfarmCategory category;  // immutable after construction: not mutable global state
  return category;
}

const std::error_category& condition_category() noexcept {
  static const ConditionCategory category;
  return category;
}

Condition condition_of(const std::error_code& ec) noexcept {
  for (Condition c : kKnownConditions)
    if (matches(ec, c)) return c;
  return Condition::unknown;
}

}  // namespace rfarm
