// A volume kubelet prepared on the host and asks to see inside the pod
// (runtime.v1.Mount), as plain data, and the host directory share the VM
// gets for it. Pure: the mapper plans shares from mounts without touching
// the host; server/volumes checks and prepares the host side.
#ifndef VMMAP_MAPPER_VOLUME_MOUNTS_H_
#define VMMAP_MAPPER_VOLUME_MOUNTS_H_

#include <string>
#include <vector>

namespace vmmap {

// Values match runtime.v1.MountPropagation.
enum class MountPropagation { kPrivate = 0, kHostToContainer = 1, kBidirectional = 2 };

// What kubelet prepared at a mount's host_path. The mapper cannot look, so
// the server classifies every mount from the host before planning
// (server/volumes/host_paths.h); anything else (a socket, a device) is
// refused there.
enum class HostPathKind { kDirectory, kFile };

struct VolumeMount {
  std::string container_path;  // where the guest sees it
  std::string host_path;       // what kubelet prepared
  bool read_only = false;
  bool selinux_relabel = false;  // accepted; see docs/volumes.md
  MountPropagation propagation = MountPropagation::kPrivate;
  HostPathKind host_kind = HostPathKind::kDirectory;  // set by the server, not stored
};

// How a share reaches the guest: virtio-fs (virtiofsd, vhost-user; needs
// shared guest memory) or 9p (QEMU's own server, accessmode='mapped').
enum class SharedFsDriver { kVirtiofs, k9p };
const char* SharedFsTypeName(SharedFsDriver driver);  // the guest's fstype: "virtiofs", "9p"

// A single-file mount (kubelet's /etc/hosts and /dev/termination-log, a
// subPath of one configMap key): an entry of the domain's one `files` share,
// which the guest bind-mounts from that share onto `guest_path`.
struct SharedFile {
  std::string tag;          // "vol<N>" (N = the mount's index): its name in the files share
  std::string source_file;  // kubelet's file (server/volumes: resolved, no symlinks)
  std::string guest_path;   // normalised as a share's guest_path
  bool read_only = false;
};

// One <filesystem> of the domain.
//
// Invariants (PlanSharedDirectories): `tag` is "vol<N>" or "files" (the
// one share holding every single-file mount, last), unique in the domain; `guest_path` is absolute,
// normalised (no "." / ".." / empty components, no trailing '/'), printable ASCII, at most
// kMaxGuestPathBytes; `source_dir` is absolute. Read-only shares are
// read-only twice: the guest mounts them ro, and the host side gives
// virtiofsd a read-only view (libvirt 9.0 refuses <readonly/> on virtiofs).
struct SharedDirectory {
  std::string tag;
  std::string source_dir;  // the host directory (server/volumes' view of the host path)
  std::string guest_path;
  bool read_only = false;
  SharedFsDriver driver = SharedFsDriver::kVirtiofs;
  // The `files` share only: the files it holds, one placeholder each named
  // by its tag (source_dir is then a directory of those placeholders).
  std::vector<SharedFile> files = {};
};

}  // namespace vmmap

#endif  // VMMAP_MAPPER_VOLUME_MOUNTS_H_
