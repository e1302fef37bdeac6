// `vmmap render`: Pod manifests to domain XML, offline.
#ifndef VMMAP_CLI_RENDER_COMMAND_H_
#define VMMAP_CLI_RENDER_COMMAND_H_

#include <string>
#include <vector>

namespace vmmap {

// Exit codes: 0 ok, 1 bad input, 2 bad usage.
int RunRenderCommand(const std::vector<std::string>& args);

}  // namespace vmmap

#endif  // VMMAP_CLI_RENDER_COMMAND_H_
