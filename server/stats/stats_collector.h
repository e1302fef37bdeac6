// CRI stats for VM pods, read from libvirt in bulk.
//
// One virConnectGetAllDomainStats / virDomainListGetStats call per refresh,
// never a per-domain loop; concurrent requests share the refresh in flight;
// a sample is reused while younger than the freshness bound.
#ifndef VMMAP_SERVER_STATS_STATS_COLLECTOR_H_
#define VMMAP_SERVER_STATS_STATS_COLLECTOR_H_

#include <vector>

#include "absl/status/statusor.h"
#include "runtime_v1.pb.h"
#include "server/images/image_store.h"
#include "server/runtime/pod_runtime.h"
#include "server/virt/hypervisor.h"

namespace vmmap {

class StatsCollector {
 public:
  StatsCollector(virt::Hypervisor* hypervisor, PodRuntime* runtime, ImageStore* images);
  ~StatsCollector();

  absl::StatusOr<runtime::v1::ContainerStats> ContainerStats(const std::string& container_id);
  absl::StatusOr<std::vector<runtime::v1::ContainerStats>> ListContainerStats(
      const runtime::v1::ContainerStatsFilter& filter);
  absl::StatusOr<runtime::v1::PodSandboxStats> PodSandboxStats(const std::string& sandbox_id);
  absl::StatusOr<std::vector<runtime::v1::PodSandboxStats>> ListPodSandboxStats(
      const runtime::v1::PodSandboxStatsFilter& filter);

 private:
  virt::Hypervisor* const hypervisor_;
  PodRuntime* const runtime_;
  ImageStore* const images_;
};

}  // namespace vmmap

#endif  // VMMAP_SERVER_STATS_STATS_COLLECTOR_H_
