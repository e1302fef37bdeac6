// The node-level libvirt partition on cgroupfs nodes (docs/cgroups.md).
//
// libvirt refuses to start a domain in a non-default partition that does not
// exist in every mounted controller, and on cgroupfs it names each path
// component "<name>.partition". A fresh cpuset cgroup has no CPUs or memory
// nodes, so they are copied from the parent, or no task could join it.
#ifndef VMMAP_SERVER_CGROUP_PARTITION_H_
#define VMMAP_SERVER_CGROUP_PARTITION_H_

#include <string>

#include "absl/status/status.h"
#include "mapper/partition.h"  // LibvirtPartitionDir

namespace vmmap {

// Creates `partition` under every controller mounted below `cgroup_root`
// (normally /sys/fs/cgroup). Existing directories are left as they are.
absl::Status EnsureCgroupfsPartition(const std::string& partition,
                                     const std::string& cgroup_root = "/sys/fs/cgroup");

}  // namespace vmmap

#endif  // VMMAP_SERVER_CGROUP_PARTITION_H_
