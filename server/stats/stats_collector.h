// CRI stats for VM pods, read from libvirt in bulk.
//
// What is served (one VM per pod, one container per pod, so a pod's and its
// container's CPU and memory are the same VM's):
//  * cpu: usage_core_nano_seconds = libvirt `cpu.time` (vCPUs + emulator, the
//    domain cgroup's cpuacct counter); usage_nano_cores = the rate between
//    the domain's last two samples (unset on its first sample or after a
//    restart reset the counter).
//  * memory: the host's view of the QEMU process: working_set, usage and rss
//    all = `balloon.rss` (KiB → bytes); available = hard_limit − working set
//    (hard_limit read once per domain and resources from its XML, cached);
//    page_faults / major_page_faults = the guest's balloon statistics
//    `balloon.minor_fault` (all faults, it is the guest's pgfault counter) /
//    `balloon.major_fault`, when the guest reports them.
//  * writable_layer: the container's own files: a qcow2 overlay's st_blocks ×
//    512, or the container directory's usage for kernel bundles; fs_id = the
//    image store's mountpoint.
//  * pod network: per interface `net.N.*` rx/tx bytes and errors.
//
// How it is read: a refresh is ONE Hypervisor::GetAllDomainStats call for all
// domains (STATE | CPU_TOTAL | BALLOON | INTERFACE by default), never a
// per-domain loop. Concurrent requests share the refresh in flight
// (single-flight), and a snapshot is reused while younger than `freshness`
// (default 500 ms: two calls 1 s apart always see different timestamps, as
// `crictl stats` requires). The only other libvirt call is one DomainXml per
// domain the first time it is seen (and after its resources change) to learn
// its hard_limit.
//
// A stopped, vanished or unreadable domain yields an entry with attributes
// and timestamps but no CPU/memory values; it never fails the list. Only a
// failure of the bulk call itself fails a request.
//
// Thread-safe.
#ifndef VMMAP_SERVER_STATS_STATS_COLLECTOR_H_
#define VMMAP_SERVER_STATS_STATS_COLLECTOR_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runtime_v1.pb.h"
#include "server/base/clock.h"
#include "server/images/image_store.h"
#include "server/runtime/pod_runtime.h"
#include "server/virt/hypervisor.h"

namespace vmmap {

struct StatsOptions {
  // A snapshot younger than this is served without asking libvirt again.
  std::chrono::milliseconds freshness{500};
  // Stat groups of the bulk call (virt::StatsGroup mask).
  unsigned groups = virt::kStatsState | virt::kStatsCpuTotal | virt::kStatsBalloon |
                    virt::kStatsInterface;
  // fs_id of writable layers; empty: the image store's mountpoint, looked up
  // once on first use.
  std::string fs_mountpoint;
  // Freshness is measured on its steady reading, CRI timestamps (and so the
  // CPU rate) on its wall reading. nullptr: Clock::Real(). Must outlive the
  // collector.
  const Clock* clock = nullptr;
};

// What one refresh learnt about one domain (parsed from the bulk stats).
struct DomainSample {
  bool active = false;  // running or paused (has a QEMU process)
  std::optional<uint64_t> cpu_time_ns;
  std::optional<uint64_t> cpu_rate_nano_cores;  // vs the previous sample
  std::optional<uint64_t> rss_bytes;
  std::optional<uint64_t> minor_faults;
  std::optional<uint64_t> major_faults;
  std::optional<uint64_t> hard_limit_bytes;
  struct Interface {
    std::string name;
    std::optional<uint64_t> rx_bytes, rx_errors, tx_bytes, tx_errors;
  };
  std::vector<Interface> interfaces;
};

// Parses libvirt's bulk stats keys of one domain (exposed for tests).
DomainSample ParseDomainStats(const virt::DomainStats& stats);

class StatsCollector {
 public:
  StatsCollector(virt::Hypervisor* hypervisor, PodRuntime* runtime, ImageStore* images,
                 StatsOptions options = {});
  ~StatsCollector();

  absl::StatusOr<runtime::v1::ContainerStats> ContainerStats(const std::string& container_id);
  absl::StatusOr<std::vector<runtime::v1::ContainerStats>> ListContainerStats(
      const runtime::v1::ContainerStatsFilter& filter);
  absl::StatusOr<runtime::v1::PodSandboxStats> PodSandboxStats(const std::string& sandbox_id);
  absl::StatusOr<std::vector<runtime::v1::PodSandboxStats>> ListPodSandboxStats(
      const runtime::v1::PodSandboxStatsFilter& filter);

  // Number of bulk refreshes issued so far (for tests and benchmarks).
  uint64_t refreshes() const;

 private:
  struct Snapshot {
    int64_t timestamp_ns = 0;  // wall clock, CRI timestamps
    std::chrono::steady_clock::time_point taken;
    absl::flat_hash_map<std::string, DomainSample> domains;
  };
  struct Flight {
    bool done = false;
    absl::StatusOr<std::shared_ptr<const Snapshot>> result;
  };
  struct PrevCpu {
    uint64_t cpu_time_ns = 0;
    int64_t timestamp_ns = 0;
  };
  struct HardLimit {
    LinuxResources resources;  // the record's resources it was read for
    std::optional<uint64_t> bytes;
  };

  // The current snapshot: cached if fresh, else the refresh in flight, else a
  // new refresh done by this caller.
  absl::StatusOr<std::shared_ptr<const Snapshot>> Current();
  absl::StatusOr<std::shared_ptr<Snapshot>> Refresh();
  std::optional<uint64_t> HardLimitBytes(const ContainerRecord& record);
  const std::string& FsMountpoint();

  runtime::v1::ContainerStats MakeContainerStats(const ContainerRecord& record,
                                                 const Snapshot& snapshot);
  runtime::v1::PodSandboxStats MakePodStats(const SandboxRecord& sandbox,
                                            const std::vector<const ContainerRecord*>& containers,
                                            const Snapshot& snapshot);

  virt::Hypervisor* const hypervisor_;
  PodRuntime* const runtime_;
  ImageStore* const images_;
  const StatsOptions options_;
  const Clock* const clock_;

  mutable absl::Mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<Flight> flight_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, PrevCpu> prev_cpu_ ABSL_GUARDED_BY(mu_);
  uint64_t refreshes_ ABSL_GUARDED_BY(mu_) = 0;

  absl::Mutex limits_mu_;
  absl::flat_hash_map<std::string, HardLimit> hard_limits_ ABSL_GUARDED_BY(limits_mu_);

  absl::Mutex fs_mu_;
  std::optional<std::string> fs_mountpoint_ ABSL_GUARDED_BY(fs_mu_);
};

}  // namespace vmmap

#endif  // VMMAP_SERVER_STATS_STATS_COLLECTOR_H_
