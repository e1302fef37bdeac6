// Reading a command's input file ('-' = stdin), shared by the commands that
// take manifests.
#ifndef VMMAP_CLI_READ_INPUT_H_
#define VMMAP_CLI_READ_INPUT_H_

#include <string>

#include "absl/status/statusor.h"

namespace vmmap {

// The whole of `path` (or stdin for "-"); NotFound naming the path when it
// cannot be opened.
absl::StatusOr<std::string> ReadInput(const std::string& path);

}  // namespace vmmap

#endif  // VMMAP_CLI_READ_INPUT_H_
