#include "server/stats/stats_collector.h"

namespace vmmap {

StatsCollector::StatsCollector(virt::Hypervisor* hypervisor, PodRuntime* runtime, ImageStore* images)
    : hypervisor_(hypervisor), runtime_(runtime), images_(images) {}

StatsCollector::~StatsCollector() = default;

absl::StatusOr<runtime::v1::ContainerStats> StatsCollector::ContainerStats(const std::string&) {
  return absl::UnimplementedError("ContainerStats: not implemented yet");
}
absl::StatusOr<std::vector<runtime::v1::ContainerStats>> StatsCollector::ListContainerStats(
    const runtime::v1::ContainerStatsFilter&) {
  return absl::UnimplementedError("ListContainerStats: not implemented yet");
}
absl::StatusOr<runtime::v1::PodSandboxStats> StatsCollector::PodSandboxStats(const std::string&) {
  return absl::UnimplementedError("PodSandboxStats: not implemented yet");
}
absl::StatusOr<std::vector<runtime::v1::PodSandboxStats>> StatsCollector::ListPodSandboxStats(
    const runtime::v1::PodSandboxStatsFilter&) {
  return absl::UnimplementedError("ListPodSandboxStats: not implemented yet");
}

}  // namespace vmmap
