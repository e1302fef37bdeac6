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
// The one share that holds every single-file mount, and where the guest
// mounts it before bind-mounting each file from it to its path. Guest
// paths at or below kReservedGuestDir are vmmap's and refused.
inline constexpr char kFilesShareTag[] = "files";
inline constexpr char kReservedGuestDir[] = "/run/vmmap";
inline constexpr char kFilesGuestDir[] = "/run/vmmap/files";

// The pod's choice of shared file system (default virtio-fs).
absl::StatusOr<SharedFsDriver> SharedFsDriverFor(const Annotations& annotations);

// One share per directory mount, tags vol<N> (N = the mount's index) in
// mount order, then, when any mount is a file (VolumeMount::host_kind), one
// share tagged kFilesShareTag holding them all (one virtiofsd for a pod's
// /etc/hosts, termination log and subPath keys, not one each). A directory
// share's `source_dir` is the mount's host_path, a file's `source_file` its
// host_path (server/volumes replaces both with its own views); the files
// share's source_dir is empty until server/volumes sets it.
// InvalidArgument for a bad container_path (also one at or below
// kReservedGuestDir), two mounts at one path, or more than
// kMaxSharedDirectories mounts.
absl::StatusOr<std::vector<SharedDirectory>> PlanSharedDirectories(
    const std::vector<VolumeMount>& mounts, const Annotations& annotations);

// The guest's instruction for one share, vmmap's mount contract
// (docs/volumes.md): "vmmap.mount=<tag>,<fstype>,<ro|rw>,<%-encoded path>",
// a single word without spaces, usable on a kernel command line.
std::string GuestMountArgument(const SharedDirectory& share);

// The guest's instruction for one file of the files share:
// "vmmap.file=<%-encoded source in the guest>,<ro|rw>,<%-encoded path>",
// e.g. vmmap.file=/run/vmmap/files/vol3,ro,/etc/hosts.
std::string GuestFileArgument(const SharedFile& file);

// Every instruction of a domain's shares in the order the guest follows
// them: each share's vmmap.mount word, the files share's followed by its
// vmmap.file words (the files share is planned last, so a file lands on top
// of any directory mounted over its path's parent).
std::vector<std::string> GuestMountArguments(const std::vector<SharedDirectory>& shares);

// The same for cloud-init (disk images, NoCloud seed `bootcmd`): argv lists,
// run without a shell at every boot: mkdir -p <path>; mount -t <fstype> -o
// <ro|rw>[,9p transport] <tag> <path>; for each file of the files share,
// mkdir -p <parent>; touch <path>; mount --bind <source> <path>, and for a
// read-only one mount -o remount,bind,ro <path>.
std::vector<std::vector<std::string>> GuestMountCommands(const SharedDirectory& share);

// The guest path with every byte outside [A-Za-z0-9._/-] as %XX.
std::string PercentEncodePath(const std::string& path);

}  // namespace vmmap

#endif  // VMMAP_MAPPER_SHARED_DIRS_H_
