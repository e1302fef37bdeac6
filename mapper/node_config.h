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
//              (+ the TCG code cache on `qemu` domains)
// With <memoryBacking><locked/> QEMU's mlockall makes every private writable
// mapping resident, so the model covers what mlockall locks, not merely what
// QEMU touched: measured on TCG guests here (docs/overhead-measurement.md):
// 68 MiB base + 12.7 MiB per vCPU + the code cache, plus headroom.
// How libvirt runs virtiofsd for each virtio-fs share (docs/volumes.md has
// the why of each choice).
//  * cache=none: kubelet refreshes configMaps, secrets and tokens on the host
//    and the guest must see them at once; and no guest page cache duplicates
//    the host's (both would be charged to the pod).
//  * thread pool 0 (QEMU 7.2's C virtiofsd's own default: no pool, each
//    request served by its queue's thread): with a pool of 4, Debian 12's
//    virtiofsd was killed by its own seccomp filter (SIGSYS on
//    sched_getaffinity, from a "pool" thread) while a guest walked 20,000
//    files, and the share hung; and virtiofsd runs in the domain's emulator
//    cgroup, whose slice more threads cannot enlarge.
struct VirtiofsSettings {
  std::string binary = "/usr/lib/qemu/virtiofsd";  // Debian's qemu-system-common
  int thread_pool_size = 0;
};

struct OverheadModel {
  int64_t fixed_bytes = 64 * kMiB;     // QEMU heap, arenas, ROMs, ACPI tables, kmem
  int64_t per_vcpu_bytes = 16 * kMiB;  // vCPU thread stack (locked whole) and per-CPU state
  int64_t guest_divisor = 512;         // host page tables: 2 MiB per GiB of guest
  int64_t devices_bytes = 16 * kMiB;   // virtio disk and balloon queues, serial
  // `qemu` (TCG) domains only, beside the code cache: what QEMU really keeps
  // locked beyond the terms above, measured with a working mlockall (QEMU
  // with CAP_IPC_LOCK, vmmap's own devices, guests that touch all their RAM):
  // 157–214 MiB over the guest where the terms above and the code cache give
  // 160.5–210, so 256 MiB/1 and /4 vCPU guests were OOM-killed by their own
  // hard_limit (docs/capacity.md). Not measured under KVM (it does not run
  // here): the same QEMU devices probably need some of it there too.
  int64_t tcg_locked_extra_bytes = 24 * kMiB;
  // One virtiofsd per virtio-fs share, moved into the domain's cgroup
  // (server/volumes): its private memory under a guest hammering the share
  // (docs/overhead-measurement.md, "virtio-fs").
  int64_t per_virtiofs_share_bytes = 16 * kMiB;
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
  // TCG's translated-code cache defaults to 1 GiB, all of it locked by
  // mlockall; `qemu` domains bound it and the overhead model counts it.
  int64_t tcg_code_cache_mib = 64;
  VirtiofsSettings virtiofs;
};

}  // namespace vmmap

#endif  // VMMAP_MAPPER_NODE_CONFIG_H_
