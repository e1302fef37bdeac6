// `vmmap check`: can this node run vmmap pods? One finding per requirement,
// each with its fix. Runs in vmmap-node (it links libvirt).
#ifndef VMMAP_CLI_CHECK_COMMAND_H_
#define VMMAP_CLI_CHECK_COMMAND_H_

#include <string>
#include <vector>

namespace vmmap {

// Exit codes: 0 every required check passed, 1 one failed, 2 bad usage.
int RunCheckCommand(const std::vector<std::string>& args);

}  // namespace vmmap

#endif  // VMMAP_CLI_CHECK_COMMAND_H_
