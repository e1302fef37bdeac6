// Cgroup directories libvirt leaves behind.
//
// libvirt removes a domain's cgroup when it stops the domain itself, but not
// when the domain ended while no libvirt watched it (vmmap serve, which runs
// the embedded driver, was killed), nor after a reconnect that did not find
// the cgroup again: issue 8 counted 24 empty `qemu-embed-…` directories after
// 10 kills. On a node with churn they pile up by the thousand, so vmmap
// removes them itself whenever one of its domains is gone for good
// (RemoveContainer, recovery).
//
// Only cgroupfs nodes: on systemd nodes the domain's scope is systemd's.
// Never kills anything: rmdir of a cgroup that still has tasks fails (EBUSY)
// and is reported, the directory kept.
#ifndef VMMAP_SERVER_RUNTIME_DOMAIN_CGROUPS_H_
#define VMMAP_SERVER_RUNTIME_DOMAIN_CGROUPS_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "mapper/node_config.h"

namespace vmmap {

// Removes, in every controller mounted below `cgroup_root`, the directories
// libvirt made for the domains named in `domain_names` under the node
// partition ("qemu-[embed-<hash>-]<id>-<name>.libvirt-qemu", children first).
// Call only for domains that no longer run. A directory that cannot be
// removed does not stop the others; the first error is returned
// (FailedPrecondition while tasks are still inside).
absl::Status RemoveDomainCgroups(const NodeConfig& node,
                                 const absl::flat_hash_set<std::string>& domain_names,
                                 const std::string& cgroup_root);

// The cgroup directories a helper process of the running domain `domain_name`
// belongs in, one per controller mounted below `cgroup_root`: the domain's
// `emulator` child where libvirt made one (cpu, cpuset, the unified
// hierarchy, where the domain's own directory has children and may not hold
// processes), else the domain's directory (memory, pids, blkio, …): where
// libvirt keeps QEMU's own main thread. Empty on systemd nodes (the
// domain's scope is systemd's) and when the domain has no cgroup.
std::vector<std::string> DomainHelperCgroupDirs(const NodeConfig& node,
                                                const std::string& domain_name,
                                                const std::string& cgroup_root);

}  // namespace vmmap

#endif  // VMMAP_SERVER_RUNTIME_DOMAIN_CGROUPS_H_
