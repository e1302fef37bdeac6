// What the stats room answers: typed records of a container's and a pod's
// usage. No CRI message crosses this line: server/cri/stats_convert turns
// these into runtime.v1 responses, and other readers (a /metrics endpoint)
// use them as they are.
//
// An unset optional means "not known now" (a stopped or vanished domain, a
// cgroup file this host does not have), never zero.
#ifndef VMMAP_SERVER_STATS_STATS_RECORDS_H_
#define VMMAP_SERVER_STATS_STATS_RECORDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/state/records.h"

namespace vmmap {

// CPU time of the domain's cgroup (every QEMU thread), in nanoseconds.
struct CpuStats {
  int64_t timestamp_ns = 0;                  // wall clock of the sample
  std::optional<uint64_t> usage_core_ns;     // total: vCPUs + emulator (+ I/O threads)
  std::optional<uint64_t> usage_nano_cores;  // rate between the domain's last two samples
  std::optional<uint64_t> emulator_ns;       // the emulator child cgroup
  std::vector<uint64_t> vcpu_ns;             // vcpuN child cgroups, index N; empty if unknown
  // CFS bandwidth of the domain cgroup (its global quota).
  std::optional<uint64_t> nr_periods;
  std::optional<uint64_t> nr_throttled;
  std::optional<uint64_t> throttled_ns;
  // The same for the emulator threads' own quota (<emulator_quota>) and the
  // vCPU threads' (<quota>, summed over the vCPUs): which of them hit its
  // ceiling, since the global counters cannot tell.
  std::optional<uint64_t> emulator_nr_throttled;
  std::optional<uint64_t> emulator_throttled_ns;
  std::optional<uint64_t> vcpu_nr_throttled;
  std::optional<uint64_t> vcpu_throttled_ns;
};

// The domain cgroup's memory, computed as cAdvisor (and so kubelet) does.
struct MemoryStats {
  int64_t timestamp_ns = 0;
  std::optional<uint64_t> usage_bytes;        // memory.usage_in_bytes / memory.current
  std::optional<uint64_t> working_set_bytes;  // usage − inactive file pages, floored at 0
  std::optional<uint64_t> rss_bytes;          // anonymous memory (total_rss / anon)
  std::optional<uint64_t> cache_bytes;        // page cache (total_cache / file)
  std::optional<uint64_t> limit_bytes;        // memory.limit_in_bytes / memory.max (unset: none)
  // The guest's RAM as vmmap planned it (pod level only, and only when the
  // collector knows the node's config): limit − guest is the VMM overhead
  // predicted, usage − guest what the VMM really takes once the guest's RAM
  // is resident (it is, locked, from the start).
  std::optional<uint64_t> guest_bytes;
  std::optional<uint64_t> available_bytes;  // limit − working set, when limited
  std::optional<uint64_t> page_faults;      // of QEMU's process, host side
  std::optional<uint64_t> major_page_faults;
};

// The guest's own view through its balloon driver (asked for separately, at a
// lower rate: each costs QEMU a QMP round trip). Bytes.
struct GuestMemoryStats {
  int64_t timestamp_ns = 0;
  std::optional<uint64_t> actual_bytes;     // balloon.current
  std::optional<uint64_t> available_bytes;  // balloon.available
  std::optional<uint64_t> unused_bytes;     // balloon.unused
  std::optional<uint64_t> usable_bytes;     // balloon.usable
  std::optional<uint64_t> page_faults;      // balloon.minor_fault (all guest faults)
  std::optional<uint64_t> major_page_faults;
};

struct InterfaceStats {
  std::string name;
  uint64_t rx_bytes = 0;
  uint64_t rx_errors = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_errors = 0;
};

struct NetworkStats {
  int64_t timestamp_ns = 0;
  std::vector<InterfaceStats> interfaces;  // the first is the default interface
};

// The container's own files (its writable layer).
struct FilesystemStats {
  int64_t timestamp_ns = 0;
  std::string mountpoint;  // of the image store's filesystem
  uint64_t used_bytes = 0;
  uint64_t inodes_used = 0;
};

struct ContainerStatsRecord {
  std::string id;
  std::string sandbox_id;
  ContainerMetadata metadata;
  StringMap labels;
  StringMap annotations;
  CpuStats cpu;
  MemoryStats memory;
  std::optional<GuestMemoryStats> guest_memory;  // only when asked for (StatsOptions)
  FilesystemStats writable_layer;
};

struct PodStatsRecord {
  std::string id;
  PodMetadata metadata;
  StringMap labels;
  StringMap annotations;
  // One VM per pod: the sums of its containers (there is one).
  CpuStats cpu;
  MemoryStats memory;
  NetworkStats network;
  std::vector<ContainerStatsRecord> containers;
};

}  // namespace vmmap

#endif  // VMMAP_SERVER_STATS_STATS_RECORDS_H_
