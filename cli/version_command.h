// `vmmap version`: what this build is and what it finds on the node.
#ifndef VMMAP_CLI_VERSION_COMMAND_H_
#define VMMAP_CLI_VERSION_COMMAND_H_

#include <string>
#include <vector>

namespace vmmap {

// Exit codes: 0 ok (a component that cannot be reached prints as such), 2 bad usage.
int RunVersionCommand(const std::vector<std::string>& args);

}  // namespace vmmap

#endif  // VMMAP_CLI_VERSION_COMMAND_H_
