// Command-line splitting shared by vmmap's commands.
#ifndef VMMAP_CLI_COMMAND_LINE_H_
#define VMMAP_CLI_COMMAND_LINE_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace vmmap {

// Exit codes of the offline commands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitBadInput = 1;
inline constexpr int kExitUsage = 2;

// One argument: a flag with its value, a switch (no value), or a positional
// argument (empty `flag`).
struct CommandArg {
  std::string flag;
  std::string value;
};

// Splits "--flag=value" and "--flag value"; flags in `switches` (and
// --help / -h) take no value. InvalidArgument "FLAG needs a value" when the
// value is missing.
absl::StatusOr<std::vector<CommandArg>> SplitCommandLine(const std::vector<std::string>& args,
                                                         const std::set<std::string>& switches);

}  // namespace vmmap

#endif  // VMMAP_CLI_COMMAND_LINE_H_
