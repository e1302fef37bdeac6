#include "server/runtime/plan_input.h"

namespace vmmap {

PodSandboxInput PlanInputFor(const SandboxConfig& sandbox, const LinuxResources& container,
                             uint32_t container_attempt) {
  PodSandboxInput in;
  in.identity.name = sandbox.metadata.name;
  in.identity.namespace_name = sandbox.metadata.namespace_name;
  in.identity.uid = sandbox.metadata.uid;
  in.identity.attempt = sandbox.metadata.attempt;
  in.identity.container_attempt = container_attempt;
  in.labels = sandbox.labels;
  in.annotations = sandbox.annotations;
  in.cgroup_parent = sandbox.cgroup_parent;
  in.pod_resources = sandbox.pod_resources;
  in.overhead = sandbox.overhead;
  in.container_resources = container;
  return in;
}

absl::StatusOr<DomainPlan> PlanContainerDomain(const SandboxConfig& sandbox,
                                               const ContainerRecord& container,
                                               const NodeConfig& node) {
  return PlanDomain(PlanInputFor(sandbox, container.resources, container.config.metadata.attempt),
                    node);
}

absl::StatusOr<int64_t> PlannedGuestBytes(const SandboxConfig& sandbox,
                                          const ContainerRecord& container,
                                          const NodeConfig& node) {
  absl::StatusOr<DomainPlan> plan = PlanContainerDomain(sandbox, container, node);
  if (!plan.ok()) return plan.status();
  return plan->spec.memory_kib * 1024;
}

}  // namespace vmmap
