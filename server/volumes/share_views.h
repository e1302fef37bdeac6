// The host side of a pod's shared directories: vmmap's own view of each
// volume, which is what virtiofsd (or QEMU's 9p server) is given.
//
// Each share is a bind mount of the volume kubelet prepared, at
// <state-dir>/volumes/<container-id>/<tag>, read-only (recursively) when the
// mount is. Why a view instead of kubelet's path itself:
//  * read-only holds on the host: QEMU 7.2's virtiofsd has no read-only
//    option and libvirt 9.0 refuses <readonly/> on virtio-fs, so a guest
//    writing to a "read-only" share is stopped by the view's MS_RDONLY;
//  * the path resolved once at CreateContainer is what is shared (a later
//    symlink swap of the host path changes nothing);
//  * the view's path names the container: its virtiofsd processes are found
//    by it (virtiofsd_procs.h), and recovery finds every view of a
//    container that no longer exists.
//
// Removal never deletes below a view: views are unmounted (MNT_DETACH) and
// their empty mount points rmdir'ed, so a mount that will not go keeps its
// directory (and the host's data) and is reported.
//
// A mount of a single file (kubelet's /etc/hosts and /dev/termination-log,
// a subPath of one configMap key) is shared through the container's one
// `files` share: <state-dir>/volumes/<container-id>/files/ holds an empty
// placeholder per file, named by the mount's tag, with kubelet's file bind
// mounted onto it (read-only ones made read-only). The directory itself is
// a read-only bind of itself, so a guest can neither add entries to it nor
// remove a placeholder (removal could not rmdir it, nor tell a guest's file
// from a placeholder). Sharing the file's parent instead would expose the
// rest of kubelet's pod directory.
#ifndef VMMAP_SERVER_VOLUMES_SHARE_VIEWS_H_
#define VMMAP_SERVER_VOLUMES_SHARE_VIEWS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mapper/volume_mounts.h"

namespace vmmap::volumes {

// <state-dir>/volumes: every container's views live below it.
std::string ViewsRoot(const std::string& state_dir);
// <state-dir>/volumes/<container-id>
std::string ContainerViewsDir(const std::string& state_dir, const std::string& container_id);

struct ShareView {
  std::string host_path;  // what kubelet prepared, resolved (no symlinks)
  std::string view_path;  // the bind mount vmmap makes
  bool read_only = false;
  bool file = false;  // a placeholder in the files share's directory, not a directory view
};

struct ResolvedShares {
  std::vector<SharedDirectory> shares;  // source_dir (and a file's source_file) = the view
  std::vector<ShareView> views;         // one per directory share, then one per file
};

// Checks each planned share's host path (source_dir as planned, and each
// file's source_file) and points the share at its view. InvalidArgument
// naming mounts[i].host_path when it does not exist, cannot be read or is
// neither a directory nor a regular file; Aborted when it is no longer the
// kind it was planned as (it changed on the host meanwhile). Reads the
// host's file system only; creates nothing.
absl::StatusOr<ResolvedShares> ResolveShares(std::vector<SharedDirectory> planned,
                                             const std::string& state_dir,
                                             const std::string& container_id);

// Makes every view (mkdir + bind mount, read-only ones remounted read-only
// recursively and all made slaves of the host's mounts; files: the files
// directory, its placeholders, its read-only bind of itself, then each
// file's bind). On failure the views made so far are released again. Needs
// CAP_SYS_ADMIN.
absl::Status MountViews(const std::vector<ShareView>& views, const std::string& state_dir,
                        const std::string& container_id);

// Unmounts and removes every view of the container, and its directory:
// directory views are unmounted and rmdir'ed, the files directory's bind
// unmounted, each placeholder unmounted and unlinked once it is an empty
// regular file again, the directory rmdir'ed. Never a recursive delete.
// Idempotent (nothing there: OK). Unavailable names a view that stays.
absl::Status ReleaseViews(const std::string& state_dir, const std::string& container_id);

// Marks the mounts the container shares as files (host_kind), from its
// views: what CreateContainer classified is not stored, and a re-plan (a
// live resize) must count the shares the domain really has.
void MarkSharedFiles(const std::string& state_dir, const std::string& container_id,
                     std::vector<VolumeMount>& mounts);

// The container ids that have a views directory (for recovery).
std::vector<std::string> ContainersWithViews(const std::string& state_dir);

}  // namespace vmmap::volumes

#endif  // VMMAP_SERVER_VOLUMES_SHARE_VIEWS_H_
