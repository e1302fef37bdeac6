// `vmmap annotate`: set (or suggest) a pod's vCPU count annotation in its
// manifest, editing the text so the rest stays byte for byte.
#ifndef VMMAP_CLI_ANNOTATE_COMMAND_H_
#define VMMAP_CLI_ANNOTATE_COMMAND_H_

#include <string>
#include <vector>

namespace vmmap {

// Exit codes: 0 ok, 1 bad input, 2 bad usage.
int RunAnnotateCommand(const std::vector<std::string>& args);

}  // namespace vmmap

#endif  // VMMAP_CLI_ANNOTATE_COMMAND_H_
