// CPU, memory, network and writable-layer usage of VM pods, as typed records
// (stats_records.h). One VM per pod and one container per pod, so a pod's
// and its container's CPU and memory are the same VM's.
//
// Where the figures come from:
//  * cpu and memory: the domain's cgroup files (DomainSampler): total CPU
//    time of every QEMU thread, per vCPU and emulator, CFS throttling; memory
//    usage, working set (usage − inactive file, as cAdvisor/kubelet), RSS,
//    cache, the cgroup's limit (= <memtune><hard_limit>) and available =
//    limit − working set; usage_nano_cores = the rate between the domain's
//    last two samples (unset on its first sample or after a restart reset
//    the counter).
//  * guest memory (balloon): only when `guest_memory_interval` is set, and
//    then at most once per interval (one bulk BALLOON call: a QMP round trip
//    per domain inside libvirt).
//  * network: StatsOptions::network_counters, per pod (the pod's interfaces
//    live in its network namespace, where libvirt cannot see them).
//  * writable layer: the container's own files (qcow2 overlay st_blocks, or
//    the container directory for kernel bundles); mountpoint = the image
//    store's.
//
// Cost: a refresh is ONE libvirt call (the domain list) plus file reads;
// concurrent requests share the refresh in flight (single flight) and a
// snapshot is reused while younger than `freshness` (default 500 ms: two
// calls 1 s apart always see different timestamps, as `crictl stats`
// requires).
//
// A stopped, vanished or unreadable domain yields a record with identity and
// timestamps but no CPU/memory values; it never fails the list. Only a
// failure of the listing fails a request.
//
// Thread-safe.
#ifndef VMMAP_SERVER_STATS_STATS_COLLECTOR_H_
#define VMMAP_SERVER_STATS_STATS_COLLECTOR_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/base/clock.h"
#include "server/images/image_store.h"
#include "server/runtime/filters.h"
#include "server/runtime/pod_runtime.h"
#include "server/stats/domain_cgroup.h"
#include "server/stats/domain_sampler.h"
#include "server/stats/stats_records.h"
#include "server/virt/hypervisor.h"

namespace vmmap {

// A pod's interface counters (e.g. from network::PodNetwork::Counters).
using NetworkCountersFn =
    std::function<absl::StatusOr<std::vector<InterfaceStats>>(const SandboxRecord& sandbox)>;

struct StatsOptions {
  // A snapshot younger than this is served without reading again.
  std::chrono::milliseconds freshness{500};
  // Guest balloon figures at most this often; zero: never asked for.
  std::chrono::seconds guest_memory_interval{0};
  // fs mountpoint of writable layers; empty: the image store's mountpoint,
  // looked up once on first use.
  std::string fs_mountpoint;
  // Freshness is measured on its steady reading, timestamps (and so the CPU
  // rate) on its wall reading. nullptr: Clock::Real(). Must outlive the
  // collector.
  const Clock* clock = nullptr;
  // Where the domains' cgroups are read; nullopt: the host's (CgroupFs::Host()).
  std::optional<CgroupFs> cgroups;
  // Pod network counters; empty: pods report no interfaces. Errors leave the
  // pod without interfaces, they never fail the request.
  NetworkCountersFn network_counters;
  // The node's mapping config, to tell a pod's planned guest memory
  // (MemoryStats::guest_bytes); nullopt: not reported.
  std::optional<NodeConfig> node;
};

class StatsCollector {
 public:
  StatsCollector(virt::Hypervisor* hypervisor, PodRuntime* runtime, ImageStore* images,
                 StatsOptions options = {});
  ~StatsCollector();

  // NotFound for an unknown (or pending) container / sandbox.
  absl::StatusOr<ContainerStatsRecord> ContainerStats(const std::string& container_id);
  absl::StatusOr<std::vector<ContainerStatsRecord>> ListContainerStats(
      const ContainerFilter& filter);
  absl::StatusOr<PodStatsRecord> PodStats(const std::string& sandbox_id);
  absl::StatusOr<std::vector<PodStatsRecord>> ListPodStats(const SandboxFilter& filter);

  // Number of refreshes issued so far (for tests and benchmarks).
  uint64_t refreshes() const;

 private:
  struct DomainFigures {
    bool active = false;
    std::optional<CgroupSample> cgroup;
    std::optional<uint64_t> cpu_rate_nano_cores;  // vs the previous sample
  };
  struct Snapshot {
    int64_t timestamp_ns = 0;  // wall clock
    std::chrono::steady_clock::time_point taken;
    absl::flat_hash_map<std::string, DomainFigures> domains;  // by domain name
    // The latest balloon reading (possibly older than the snapshot).
    std::shared_ptr<const absl::flat_hash_map<std::string, GuestMemoryStats>> guest;
  };
  struct Flight {
    bool done = false;
    absl::StatusOr<std::shared_ptr<const Snapshot>> result;
  };
  struct PrevCpu {
    uint64_t cpu_ns = 0;
    int64_t timestamp_ns = 0;
  };

  // The current snapshot: cached if fresh, else the refresh in flight, else a
  // new refresh done by this caller.
  absl::StatusOr<std::shared_ptr<const Snapshot>> Current();
  absl::StatusOr<std::shared_ptr<Snapshot>> Refresh();
  // The balloon figures, re-read when older than guest_memory_interval.
  std::shared_ptr<const absl::flat_hash_map<std::string, GuestMemoryStats>> GuestMemory();
  const std::string& FsMountpoint();

  ContainerStatsRecord MakeContainerStats(const ContainerRecord& record, const Snapshot& snapshot);
  PodStatsRecord MakePodStats(const SandboxRecord& sandbox,
                              const std::vector<const ContainerRecord*>& containers,
                              const Snapshot& snapshot);

  virt::Hypervisor* const hypervisor_;
  PodRuntime* const runtime_;
  ImageStore* const images_;
  const StatsOptions options_;
  const Clock* const clock_;
  DomainSampler sampler_;

  mutable absl::Mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<Flight> flight_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, PrevCpu> prev_cpu_ ABSL_GUARDED_BY(mu_);
  uint64_t refreshes_ ABSL_GUARDED_BY(mu_) = 0;

  // Only the refresh in flight touches these (single flight), the lock
  // makes that checkable.
  absl::Mutex guest_mu_;
  std::shared_ptr<const absl::flat_hash_map<std::string, GuestMemoryStats>> guest_
      ABSL_GUARDED_BY(guest_mu_);
  std::optional<std::chrono::steady_clock::time_point> guest_taken_ ABSL_GUARDED_BY(guest_mu_);

  absl::Mutex fs_mu_;
  std::optional<std::string> fs_mountpoint_ ABSL_GUARDED_BY(fs_mu_);
};

}  // namespace vmmap

#endif  // VMMAP_SERVER_STATS_STATS_COLLECTOR_H_
