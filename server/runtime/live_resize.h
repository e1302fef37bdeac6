// Live resize (UpdateContainerResources): new CPU and memory limits for a
// running VM, split by the same rules as at creation. The vCPU count is kept
// (no hot-plug), so the split is planned for the domain's current count.
#ifndef VMMAP_SERVER_RUNTIME_LIVE_RESIZE_H_
#define VMMAP_SERVER_RUNTIME_LIVE_RESIZE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mapper/node_config.h"
#include "server/state/records.h"
#include "server/virt/hypervisor.h"

namespace vmmap {

struct ResizePlan {
  int vcpus = 1;
  virt::CpuTuneUpdate cpu;  // every knob set: an unset quota becomes -1 (unlimited)
  std::optional<int64_t> hard_limit_kib;
};

// The vCPU count in a domain's XML; InvalidArgument if it has none.
absl::StatusOr<int> VcpusOfDomainXml(const std::string& xml);

// PURE: the plan for `wanted` on a domain that has `vcpus` vCPUs.
absl::StatusOr<ResizePlan> PlanResize(const SandboxConfig& sandbox,
                                      const ContainerConfig& container,
                                      const LinuxResources& wanted, int vcpus,
                                      const NodeConfig& node);

// Applies the plan to the running domain (live).
absl::Status ApplyResize(virt::Hypervisor& hypervisor, const std::string& domain_name,
                         const ResizePlan& plan);

}  // namespace vmmap

#endif  // VMMAP_SERVER_RUNTIME_LIVE_RESIZE_H_
