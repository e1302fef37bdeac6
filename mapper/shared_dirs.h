// CRI mounts → the domain's shared directories, and the guest's instructions
// for mounting them. Pure: no I/O.
//
// Mount paths come from pod authors and reach the guest's kernel command
// line, a NoCloud seed and the domain XML, so they are checked here: absolute,
// no "." or ".." components, printable ASCII without spaces' ambiguity (the
// guest instruction percent-encodes everything outside [A-Za-z0-9._/-]),
// bounded length and count. Errors are InvalidArgument naming the mount.
#ifndef VMMAP_MAPPER_SHARED_DIRS_H_
#define VMMAP_MAPPER_SHARED_DIRS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mapper/annotations.h"
#include "mapper/volume_mounts.h"

namespace vmmap {

inline constexpr char kSharedFsAnnotation[] = "vmmap.io/shared-fs";  // "virtiofs" | "9p"
// A pc machine has 32 PCI slots on bus 0, each share takes one, and every
// share costs a virtiofsd; kubelet's usual pod brings 2-6 mounts.
inline constexpr size_t kMaxSharedDirectories = 16;
inline constexpr size_t kMaxGuestPathBytes = 256;

// The pod's choice of shared file system (default virtio-fs).
absl::StatusOr<SharedFsDriver> SharedFsDriverFor(const Annotations& annotations);

// One share per mount, tags vol0, vol1… in mount order; `source_dir` is the
// mount's host_path (server/volumes replaces it with its own view).
// InvalidArgument for a bad container_path, two mounts at one path, or more
// than kMaxSharedDirectories mounts.
absl::StatusOr<std::vector<SharedDirectory>> PlanSharedDirectories(
    const std::vector<VolumeMount>& mounts, const Annotations& annotations);

// The guest's instruction for one share, vmmap's mount contract
// (docs/volumes.md): "vmmap.mount=<tag>,<fstype>,<ro|rw>,<%-encoded path>",
// a single word without spaces, usable on a kernel command line.
std::string GuestMountArgument(const SharedDirectory& share);

// The same for cloud-init (disk images, NoCloud seed `bootcmd`): argv lists,
// run without a shell at every boot: mkdir -p <path>; mount -t <fstype> -o
// <ro|rw>[,9p transport] <tag> <path>.
std::vector<std::vector<std::string>> GuestMountCommands(const SharedDirectory& share);

// The guest path with every byte outside [A-Za-z0-9._/-] as %XX.
std::string PercentEncodePath(const std::string& path);

}  // namespace vmmap

#endif  // VMMAP_MAPPER_SHARED_DIRS_H_
