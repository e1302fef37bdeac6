// Where the domain's cgroup goes (<resource><partition>).
//
// systemd nodes: kubelet's pod slice "kubepods-burstable-pod<uid>.slice" is
// the libvirt partition "/kubepods/burstable/pod<uid>", which libvirt maps
// back to kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice:
// the VM is charged to the pod.
// cgroupfs nodes: libvirt escapes partition components (".partition"
// suffixes), so it cannot nest under /kubepods/...; the domain goes into the
// node partition instead and the pod's usage is reported through CRI stats.
#ifndef VMMAP_MAPPER_PARTITION_H_
#define VMMAP_MAPPER_PARTITION_H_

#include <string>

#include "absl/status/statusor.h"
#include "mapper/explanation.h"
#include "mapper/node_config.h"

namespace vmmap {

// "/vmmap/x" → "vmmap.partition/x.partition": the directory libvirt makes
// for a partition on cgroupfs (a component without '.' gets ".partition").
std::string LibvirtPartitionDir(const std::string& partition);

absl::StatusOr<std::string> ResourcePartitionFor(const std::string& cgroup_parent,
                                                 const NodeConfig& node, Explanation& explanation);

}  // namespace vmmap

#endif  // VMMAP_MAPPER_PARTITION_H_
