// What a pod's RuntimeClass must declare (overhead.podFixed) so that the
// scheduler's sum, requests + podFixed, covers what vmmap makes the VM take:
//
//   memory: hard_limit − guest = the VMM overhead model (memory_plan.h);
//   cpu:    with spec.overhead.cpu = E the domain's ceiling is limit + E and
//           the emulator threads get E (cpu_plan.h), so E = the emulator slice.
//
// Shapes that need different numbers are grouped into size buckets, one
// RuntimeClass each. Pure: no I/O.
#ifndef VMMAP_MAPPER_OVERHEAD_CLASSES_H_
#define VMMAP_MAPPER_OVERHEAD_CLASSES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mapper/explanation.h"
#include "mapper/node_config.h"

namespace vmmap {

// A VM size a node will run: vCPUs and the guest memory (the pod's memory
// limit; already rounded down to whole MiB like PlanMemory does).
struct VmShape {
  int vcpus = 1;
  int64_t guest_bytes = 0;
  int virtiofs_shares = 0;  // one virtiofsd each, charged to the pod
};

// The overhead one shape needs, with each term for --explain.
struct OverheadNeed {
  VmShape shape;
  int64_t memory_bytes = 0;  // == hard_limit − guest, rounded up to whole KiB
  int64_t cpu_milli = 0;
  std::vector<Derivation> terms;
};

// Validates the shape against the node (1 … max_vcpus, min-memory … 16Ti,
// whole MiB) and computes its need. InvalidArgument names the bad value.
absl::StatusOr<OverheadNeed> OverheadNeedFor(const NodeConfig& node, const VmShape& shape);

// One RuntimeClass: covers every shape with at most `max_vcpus` vCPUs and at
// most `max_guest_bytes` of memory (the model grows with both).
struct RuntimeClassPlan {
  std::string name;  // DNS label: <prefix>-<N>vcpu[-<mem>]
  int max_vcpus = 1;
  int64_t max_guest_bytes = 0;
  int64_t memory_mib = 0;            // podFixed.memory in Mi: the largest need, rounded up
  int64_t cpu_milli = 0;             // podFixed.cpu
  std::vector<OverheadNeed> shapes;  // the requested shapes it was sized for
};

// One class per vCPU count; within one, memory sizes (ascending) share a
// class while their needs differ by at most `tolerance_bytes` (over-declaring
// wastes node capacity; one class per size is never necessary).
// `prefix` must be a DNS label prefix (lowercase letters, digits, '-').
absl::StatusOr<std::vector<RuntimeClassPlan>> PlanRuntimeClasses(const NodeConfig& node,
                                                                 const std::vector<VmShape>& shapes,
                                                                 int64_t tolerance_bytes,
                                                                 const std::string& prefix);

// The "declared overhead is smaller than needed" check: a warning text when
// the pod's spec.overhead.memory is below what the VMM needs (the scheduler
// then under-counts the pod, and on systemd nodes kubelet's pod cgroup is
// smaller than the domain's hard_limit), empty when it covers it.
std::string DeclaredOverheadShortfall(int64_t declared_bytes, int64_t needed_bytes,
                                      const VmShape& shape);

}  // namespace vmmap

#endif  // VMMAP_MAPPER_OVERHEAD_CLASSES_H_
