// Where a container's qemu-guest-agent socket lives: <state-dir>/agent/
// <first 16 hex digits of the container id>.sock. Not under containers/<id>/
// because a unix socket path has at most 107 bytes and a 64-digit id there
// leaves too little room for the state dir; 16 hex digits (64 bits of a
// random id) keep sockets distinct.
#ifndef VMMAP_SERVER_GUEST_AGENT_SOCKET_H_
#define VMMAP_SERVER_GUEST_AGENT_SOCKET_H_

#include <string>

#include "absl/status/statusor.h"

namespace vmmap::guest {

// The room under the state dir that holds agent sockets.
std::string AgentSocketDir(const std::string& state_dir);

// The socket's path; FailedPrecondition naming the state dir when the path
// would not fit a unix socket address.
absl::StatusOr<std::string> AgentSocketPath(const std::string& state_dir,
                                            const std::string& container_id);

}  // namespace vmmap::guest

#endif  // VMMAP_SERVER_GUEST_AGENT_SOCKET_H_
