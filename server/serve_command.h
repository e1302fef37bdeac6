// `vmmap serve`: the CRI runtime endpoint.
#ifndef VMMAP_SERVER_SERVE_COMMAND_H_
#define VMMAP_SERVER_SERVE_COMMAND_H_

#include <string>
#include <vector>

namespace vmmap {

// Runs until SIGTERM or SIGINT. Exit codes: 0 clean stop, 1 startup failure, 2 bad usage.
int RunServeCommand(const std::vector<std::string>& args);

}  // namespace vmmap

#endif  // VMMAP_SERVER_SERVE_COMMAND_H_
