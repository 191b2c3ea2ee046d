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
    }
    return "unknown rfarm error";
  }

  std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<Errc>(value)) {
      case Errc::operation_in_progress: return std::errc::operation_in_progress;
      case Errc::timed_out: return std::errc::timed_out;
      case Errc::backend_unavailable: return std::errc::function_not_supported;
      case Errc::invalid_address: return std::errc::invalid_argument;
      case Errc::line_too_long: return std::errc::message_size;
      default: return {value, *this};
    }
  }
};

}  // namespace

const std::error_category& rfarm_category() noexcept {
  static const RfarmCategory category;  // immutable after construction: not mutable global state
  return category;
}

}  // namespace rfarm
