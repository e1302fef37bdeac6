// vCPU count and CPU bandwidth for the domain.
//
// The pod's CPU ceiling T (its limit plus any declared overhead, as a CFS
// quota per period P) goes to <global_quota>: a hard ceiling for every
// thread of the domain. Inside it, the emulator threads get E and each of
// the n vCPUs gets q = min(P, ⌊(T − E) / n⌋), so n·q + E ≤ T and QEMU's own
// threads are never unlimited. When q or E would fall below libvirt's 1000 µs
// floor the split is dropped and the global ceiling stands alone.
#ifndef VMMAP_MAPPER_CPU_PLAN_H_
#define VMMAP_MAPPER_CPU_PLAN_H_

#include "absl/status/statusor.h"
#include "mapper/domain_spec.h"
#include "mapper/explanation.h"
#include "mapper/node_config.h"
#include "mapper/resources.h"

namespace vmmap {

struct CpuPlan {
  int vcpus = 1;
  CpuTune cputune;
};

// `limits` are the pod's effective resources (pod totals, else the container's).
absl::StatusOr<CpuPlan> PlanCpu(const PodSandboxInput& input, const LinuxResources& limits,
                                const NodeConfig& node, Explanation& explanation);

}  // namespace vmmap

#endif  // VMMAP_MAPPER_CPU_PLAN_H_
