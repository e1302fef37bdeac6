// The mapping: a pod as kubelet describes it over CRI, plus node facts, in;
// a typed, validated domain description and how it was derived, out.
// Pure: no I/O, no libvirt, no clock.
#ifndef VMMAP_MAPPER_PLANNER_H_
#define VMMAP_MAPPER_PLANNER_H_

#include "absl/status/statusor.h"
#include "mapper/domain_spec.h"
#include "mapper/explanation.h"
#include "mapper/node_config.h"
#include "mapper/resources.h"

namespace vmmap {

struct DomainPlan {
  DomainSpec spec;
  Explanation explanation;
};

// The resources the VM is sized by: the pod totals when kubelet sent them,
// otherwise the container's own (older kubelets send no pod resources).
const LinuxResources& EffectiveLimits(const PodSandboxInput& input);

// Errors are InvalidArgument and name the field or annotation and its value.
absl::StatusOr<DomainPlan> PlanDomain(const PodSandboxInput& input, const NodeConfig& node);

}  // namespace vmmap

#endif  // VMMAP_MAPPER_PLANNER_H_
