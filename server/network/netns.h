// Named network namespaces, made the way `ip netns add` makes them: a file
// under a run directory (default /run/netns) bind-mounted over a namespace
// that no process needs to keep alive. CNI plugins and iproute2 receive the
// path; the namespace lives until RemoveNetns unmounts it and the last
// device reference is gone.
#ifndef VMMAP_SERVER_NETWORK_NETNS_H_
#define VMMAP_SERVER_NETWORK_NETNS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace vmmap::network {

inline constexpr char kDefaultNetnsDir[] = "/run/netns";

// Names are [A-Za-z0-9_.-], 1..64 bytes, not "." or "..": they become a
// file name under `dir`.
absl::Status ValidateNetnsName(const std::string& name);

// Creates `dir/name` holding a fresh network namespace and returns its path.
// AlreadyExists when the name is taken; on any failure nothing is left.
absl::StatusOr<std::string> CreateNetns(const std::string& dir, const std::string& name);

// Unmounts and deletes a namespace file. Idempotent: a path that is not
// mounted or does not exist is success.
absl::Status RemoveNetns(const std::string& path);

// True when `path` is a mounted network namespace (not just a stale file).
bool IsNetnsMounted(const std::string& path);

}  // namespace vmmap::network

#endif  // VMMAP_SERVER_NETWORK_NETNS_H_
