// The virtiofsd processes of one container, and their cgroups.
//
// libvirt starts one virtiofsd per virtio-fs share (two processes each with
// QEMU 7.2's C daemon: the launcher and its sandboxed child) but leaves them
// outside the domain's memory cgroup (libvirt 9.0 moves them into the
// emulator's cpu/cpuset group only). Their memory would then be charged to
// whoever started them (vmmap serve, libvirtd) and escape the pod's
// hard_limit. vmmap moves them into the domain's cgroup in every controller
// right after the domain starts and again on recovery, so that their CPU
// runs under the pod's global ceiling and their memory under hard_limit.
//
// A container's virtiofsd processes are recognised by their command line:
// libvirt passes "-o source=<view>", and the view is the container's own
// (share_views.h), so no other pod's process ever matches.
#ifndef VMMAP_SERVER_VOLUMES_VIRTIOFSD_PROCS_H_
#define VMMAP_SERVER_VOLUMES_VIRTIOFSD_PROCS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace vmmap::volumes {

// Pids whose command line carries "source=<views_dir>/" (views_dir is
// ContainerViewsDir). `proc_root` is /proc except in tests.
std::vector<pid_t> FindVirtiofsd(const std::string& views_dir,
                                 const std::string& proc_root = "/proc");

// Writes every pid into cgroup.procs of every directory in `cgroup_dirs`
// (the domain's, one per controller). A pid that exited meanwhile is not an
// error; the first other failure is returned after trying the rest.
absl::Status MoveIntoCgroups(const std::vector<pid_t>& pids,
                             const std::vector<std::string>& cgroup_dirs);

// SIGKILLs the container's virtiofsd processes that outlived their domain
// (libvirt stops them with the domain; a crash between the two may leave
// them) and waits until they are gone, up to `wait_ms`. Unavailable names
// the pids left.
absl::Status KillVirtiofsd(const std::string& views_dir, int wait_ms = 5000,
                           const std::string& proc_root = "/proc");

}  // namespace vmmap::volumes

#endif  // VMMAP_SERVER_VOLUMES_VIRTIOFSD_PROCS_H_
