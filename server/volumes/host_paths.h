// What kubelet prepared at each mount's host_path, looked at on the host
// before planning: the pure mapper shares a directory as its own share and
// a regular file (kubelet's /etc/hosts and /dev/termination-log, a subPath
// of one key) as an entry of the pod's one `files` share
// (mapper/shared_dirs.h). Anything else (a socket, a fifo, a device) is
// refused: neither virtio-fs nor 9p can serve it as the container expects.
#ifndef VMMAP_SERVER_VOLUMES_HOST_PATHS_H_
#define VMMAP_SERVER_VOLUMES_HOST_PATHS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mapper/volume_mounts.h"

namespace vmmap::volumes {

struct HostPath {
  std::string resolved;  // realpath: no symlinks, what a view binds
  HostPathKind kind = HostPathKind::kDirectory;
};

// `name` is the mount as messages name it ("mounts[3]"). InvalidArgument
// naming <name>.host_path and the value when it is missing, unreadable, or
// neither a directory nor a regular file.
absl::StatusOr<HostPath> InspectHostPath(const std::string& name, const std::string& host_path);

// Sets every mount's host_kind from the host (reads only; creates nothing).
// Errors as InspectHostPath's, for the first mount that fails.
absl::Status ClassifyHostPaths(std::vector<VolumeMount>& mounts);

}  // namespace vmmap::volumes

#endif  // VMMAP_SERVER_VOLUMES_HOST_PATHS_H_
