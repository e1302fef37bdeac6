// Node facts as command-line flags, shared by `render` and `serve`.
#ifndef VMMAP_CLI_NODE_FLAGS_H_
#define VMMAP_CLI_NODE_FLAGS_H_

#include <string>

#include "absl/status/status.h"
#include "mapper/node_config.h"

namespace vmmap {

// If `flag` is a node flag, consumes its value from `value` into `node` and
// returns true; a bad value is an InvalidArgument status naming the flag.
absl::Status ParseNodeFlag(const std::string& flag, const std::string& value, NodeConfig& node,
                           bool* consumed);

// The help text for the node flags.
const char* NodeFlagsHelp();

}  // namespace vmmap

#endif  // VMMAP_CLI_NODE_FLAGS_H_
