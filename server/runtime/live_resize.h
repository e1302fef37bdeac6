// Live resize (UpdateContainerResources): new CPU and memory limits for a
// running VM, split by the same rules as at creation. The vCPU count is kept
// (no hot-plug), so the split is planned for the domain's current count.
#ifndef VMMAP_SERVER_RUNTIME_LIVE_RESIZE_H_
#define VMMAP_SERVER_RUNTIME_LIVE_RESIZE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mapper/node_config.h"
#include "server/state/records.h"
#include "server/virt/hypervisor.h"

namespace vmmap {

// What the running domain has and cannot change live.
struct LiveDomainShape {
  int vcpus = 1;
  int64_t memory_kib = 0;  // the guest's memory (<memory>)
};

struct ResizePlan {
  int vcpus = 1;
  int64_t guest_memory_kib = 0;  // what the new limits would give a new guest
  virt::CpuTuneUpdate cpu;       // every knob set: an unset quota becomes -1 (unlimited)
  std::optional<int64_t> hard_limit_kib;
};

// The vCPU count and memory in a domain's XML; InvalidArgument if either is
// missing.
absl::StatusOr<LiveDomainShape> ShapeOfDomainXml(const std::string& xml);

// PURE: the plan for `wanted` on a running domain of `shape`. A memory limit
// that would give the guest less memory than it has is InvalidArgument
// naming the old and new limits and the guest's memory: a running guest's
// memory cannot shrink (no balloon-based resize).
absl::StatusOr<ResizePlan> PlanResize(const SandboxConfig& sandbox,
                                      const ContainerConfig& container,
                                      const LinuxResources& current, const LinuxResources& wanted,
                                      const LiveDomainShape& shape, const NodeConfig& node);

// The CPU change from `current` to `wanted` as the calls to make, in order.
// cgroup v1 refuses a child's quota above its parent's (and a parent's
// below a child's), so the domain's ceiling (global period and quota) goes
// first when it rises and last when it falls, the vCPU and emulator quotas
// (the children) in the other call: a 200m pod raised to 1000m would
// otherwise be refused its 90 ms vCPU quota under the old 20 ms ceiling.
std::vector<virt::CpuTuneUpdate> OrderedCpuUpdates(const virt::CpuTuneUpdate& current,
                                                   const virt::CpuTuneUpdate& wanted);

// Applies the plan to the running domain (live) as one change: if the
// memory limit cannot be set, the CPU parameters are put back as they were.
absl::Status ApplyResize(virt::Hypervisor& hypervisor, const std::string& domain_name,
                         const ResizePlan& plan);

}  // namespace vmmap

#endif  // VMMAP_SERVER_RUNTIME_LIVE_RESIZE_H_
