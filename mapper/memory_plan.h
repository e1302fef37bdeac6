// Guest memory, the VMM overhead model, and memtune.
//
// guest     = the pod's memory limit (node default when it has none), whole MiB
// overhead  = fixed + per_vcpu × vCPUs + guest / guest_divisor + devices
//             + per_virtiofs_share × virtio-fs shares
// hard_limit = guest + overhead, and <memoryBacking><locked/> with it, so the
// guest never swaps and libvirt sizes QEMU's RLIMIT_MEMLOCK to hard_limit.
#ifndef VMMAP_MAPPER_MEMORY_PLAN_H_
#define VMMAP_MAPPER_MEMORY_PLAN_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "mapper/explanation.h"
#include "mapper/node_config.h"
#include "mapper/resources.h"

namespace vmmap {

// libvirt's <memtune> ceiling is 2^53 − 1 KiB; far below that, a guest larger
// than 16 TiB is a typo, not a pod.
inline constexpr int64_t kMaxGuestBytes = int64_t{16} << 40;

struct MemoryPlan {
  int64_t guest_kib = 0;
  int64_t overhead_kib = 0;
  int64_t hard_limit_kib = 0;
};

// The model's overhead in bytes for a guest of `guest_bytes` with `vcpus`
// and `virtiofs_shares` virtiofsd processes, including the TCG code cache on
// `qemu` domains.
int64_t VmmOverheadBytes(const NodeConfig& node, int64_t guest_bytes, int vcpus,
                         int virtiofs_shares = 0);

absl::StatusOr<MemoryPlan> PlanMemory(const PodSandboxInput& input, const LinuxResources& limits,
                                      int vcpus, int virtiofs_shares, const NodeConfig& node,
                                      Explanation& explanation);

}  // namespace vmmap

#endif  // VMMAP_MAPPER_MEMORY_PLAN_H_
