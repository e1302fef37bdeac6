// Per pod figures for /metrics, read from the stats API at scrape time
// (StatsCollector's snapshot, shared with the CRI stats calls; no cgroup
// is read twice for them).
#ifndef VMMAP_SERVER_METRICS_POD_METRICS_H_
#define VMMAP_SERVER_METRICS_POD_METRICS_H_

#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "server/stats/stats_collector.h"

namespace vmmap {

// vmmap_pod_cpu_seconds_total, vmmap_pod_vcpu_seconds_total,
// vmmap_pod_emulator_cpu_seconds_total, vmmap_pod_cpu_throttled_periods_total
// and _seconds_total (the domain's CFS bandwidth: vCPUs and emulator under
// one global quota), vmmap_pod_memory_working_set_bytes,
// vmmap_pod_memory_usage_bytes, vmmap_pod_memory_hard_limit_bytes, all
// labelled namespace, pod, sandbox_id. `stats` must outlive the collector.
class PodMetrics : public prometheus::Collectable {
 public:
  explicit PodMetrics(StatsCollector* stats) : stats_(stats) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  StatsCollector* stats_;
};

}  // namespace vmmap

#endif  // VMMAP_SERVER_METRICS_POD_METRICS_H_
