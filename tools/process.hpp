// What every rfarm tool's process does apart from its command line (tools/cli.hpp): the exit statuses, the
// failure line, the descriptor limit. No CLI11 here: a program's serving half includes this, so that only the
// translation units that build a command line compile CLI11 (it is header-only, and costs seconds each).
#pragma once

#include <cstddef>
#include <string_view>

namespace rfarm::tools {

inline constexpr int kExitSuccess = 0;
inline constexpr int kExitFailure = 1;  // the command line was fine, the work failed
inline constexpr int kExitUsage = 2;    // the command line (or RFARM_BACKEND / RFARM_LOG) was wrong

// A failure at run time: prints "TOOL: message" on stderr and returns kExitFailure, e.g.
//     return tools::report_failure("echo-server", "listen on tcp:127.0.0.1:80: Permission denied");
int report_failure(std::string_view tool, std::string_view message);

// Raises this process's soft limit on open descriptors to its hard limit, as a server that holds one per
// connection must (many shells start programs with a soft limit of 1024). Returns the limit now in force.
std::size_t raise_open_file_limit() noexcept;

}  // namespace rfarm::tools
