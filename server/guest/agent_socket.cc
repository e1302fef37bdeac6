#include "server/guest/agent_socket.h"

#include <sys/un.h>

#include "absl/strings/str_cat.h"

namespace vmmap::guest {

std::string AgentSocketDir(const std::string& state_dir) {
  return absl::StrCat(state_dir, "/agent");
}

absl::StatusOr<std::string> AgentSocketPath(const std::string& state_dir,
                                            const std::string& container_id) {
  std::string path =
      absl::StrCat(AgentSocketDir(state_dir), "/", container_id.substr(0, 16), ".sock");
  constexpr size_t kMaxPath = sizeof(sockaddr_un{}.sun_path) - 1;
  if (path.size() > kMaxPath) {
    return absl::FailedPreconditionError(absl::StrCat(
        "state dir ", state_dir, " is too long for the guest agent's unix socket ", path, " (",
        path.size(), " bytes; a socket path has at most ", kMaxPath,
        "): use a --state-dir of at most ", state_dir.size() - (path.size() - kMaxPath), " bytes"));
  }
  return path;
}

}  // namespace vmmap::guest
