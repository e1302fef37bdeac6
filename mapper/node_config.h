// Facts about the node and the operator's policy: everything the mapping
// needs that does not come from the pod. Defaults are what `vmmap render`
// and `vmmap serve` use unless flags say otherwise.
#ifndef VMMAP_MAPPER_NODE_CONFIG_H_
#define VMMAP_MAPPER_NODE_CONFIG_H_

#include <cstdint>
#include <string>

#include "mapper/kubelet_inputs.h"

namespace vmmap {

enum class DomainType { kKvm, kQemu };
const char* DomainTypeName(DomainType type);

inline constexpr int64_t kMiB = int64_t{1} << 20;
inline constexpr int64_t kGiB = int64_t{1} << 30;

// Memory QEMU needs beyond guest RAM, charged to the domain's cgroup:
//   overhead = fixed + per_vcpu × vCPUs + guest_memory / guest_divisor + devices
// The constants come from measuring QEMU's RSS on real guests
// (docs/overhead-measurement.md); they are conservative upper bounds.
struct OverheadModel {
  int64_t fixed_bytes = 96 * kMiB;     // QEMU binary, libraries, heap, QMP, TCG/KVM state
  int64_t per_vcpu_bytes = 8 * kMiB;   // vCPU thread stacks and per-CPU state
  int64_t guest_divisor = 64;          // page tables and RAM-block bookkeeping
  int64_t devices_bytes = 32 * kMiB;   // virtio queues, balloon, serial, disk caches
};

struct NodeConfig {
  int cgroup_version = 1;  // 1 or 2: v2 turns shares into a cpu.weight
  CgroupDriver cgroup_driver = CgroupDriver::kCgroupfs;
  // On cgroupfs libvirt cannot nest under kubelet's pod cgroup, so every
  // domain goes into this node-level partition (see docs/cgroups.md).
  std::string node_partition = "/vmmap";
  DomainType domain_type = DomainType::kKvm;
  int max_vcpus = 16;
  int64_t default_guest_memory_bytes = kGiB;  // when the pod has no memory limit
  int64_t min_guest_memory_bytes = 64 * kMiB;
  int64_t default_emulator_milli = 100;  // the emulator threads' CPU slice
  int64_t min_emulator_milli = 10;       // 1000 µs per 100 ms period: libvirt's floor
  int64_t max_emulator_milli = 2000;
  OverheadModel overhead;
  int balloon_stats_period_s = 10;
  std::string emulator_path;  // empty: libvirt's default emulator
};

}  // namespace vmmap

#endif  // VMMAP_MAPPER_NODE_CONFIG_H_
