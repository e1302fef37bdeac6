// `vmmap overhead`: RuntimeClass manifests whose overhead.podFixed makes the
// scheduler count what vmmap's VMs take (mapper/overhead_classes.h).
#ifndef VMMAP_CLI_OVERHEAD_COMMAND_H_
#define VMMAP_CLI_OVERHEAD_COMMAND_H_

#include <string>
#include <vector>

namespace vmmap {

// Exit codes: 0 ok, 1 bad input, 2 bad usage.
int RunOverheadCommand(const std::vector<std::string>& args);

}  // namespace vmmap

#endif  // VMMAP_CLI_OVERHEAD_COMMAND_H_
