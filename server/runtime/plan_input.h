// A stored sandbox (plus its container's resources) as the mapper's input.
#ifndef VMMAP_SERVER_RUNTIME_PLAN_INPUT_H_
#define VMMAP_SERVER_RUNTIME_PLAN_INPUT_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "mapper/node_config.h"
#include "mapper/planner.h"
#include "mapper/resources.h"
#include "server/state/records.h"

namespace vmmap {

PodSandboxInput PlanInputFor(const SandboxConfig& sandbox, const LinuxResources& container,
                             uint32_t container_attempt);

// The mapper's plan for a stored container's domain with the limits now in
// force.
absl::StatusOr<DomainPlan> PlanContainerDomain(const SandboxConfig& sandbox,
                                               const ContainerRecord& container,
                                               const NodeConfig& node);

// The guest memory (bytes) the mapper gives the container's domain with the
// limits now in force: the guest part of its hard_limit. Pure and cheap (no
// libvirt), so readers of usage (stats, /metrics) can set it beside the
// cgroup's figures. Errors are the planner's.
absl::StatusOr<int64_t> PlannedGuestBytes(const SandboxConfig& sandbox,
                                          const ContainerRecord& container, const NodeConfig& node);

}  // namespace vmmap

#endif  // VMMAP_SERVER_RUNTIME_PLAN_INPUT_H_
