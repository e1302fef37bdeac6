#include "server/metrics/pod_metrics.h"

#include <optional>
#include <string>

#include "server/runtime/filters.h"

namespace vmmap {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

struct Families {
  MetricFamily cpu{"vmmap_pod_cpu_seconds_total",
                   "CPU time of the pod's VM: vCPUs, emulator and I/O threads",
                   MetricType::Counter,
                   {}};
  MetricFamily vcpu{"vmmap_pod_vcpu_seconds_total",
                    "CPU time of the pod's vCPU threads",
                    MetricType::Counter,
                    {}};
  MetricFamily emulator{"vmmap_pod_emulator_cpu_seconds_total",
                        "CPU time of the pod's QEMU emulator threads",
                        MetricType::Counter,
                        {}};
  MetricFamily throttled_periods{
      "vmmap_pod_cpu_throttled_periods_total",
      "CFS periods in which the VM's global quota (vCPUs + emulator) was exhausted",
      MetricType::Counter,
      {}};
  MetricFamily throttled_seconds{"vmmap_pod_cpu_throttled_seconds_total",
                                 "Time the VM's threads were throttled by its global quota",
                                 MetricType::Counter,
                                 {}};
  MetricFamily vcpu_throttled_periods{
      "vmmap_pod_vcpu_throttled_periods_total",
      "CFS periods in which a vCPU thread's own quota was exhausted, summed over the vCPUs",
      MetricType::Counter,
      {}};
  MetricFamily vcpu_throttled_seconds{"vmmap_pod_vcpu_throttled_seconds_total",
                                      "Time the vCPU threads were throttled by their own quotas, "
                                      "summed over the vCPUs",
                                      MetricType::Counter,
                                      {}};
  MetricFamily emulator_throttled_periods{
      "vmmap_pod_emulator_throttled_periods_total",
      "CFS periods in which the emulator threads' quota was exhausted",
      MetricType::Counter,
      {}};
  MetricFamily emulator_throttled_seconds{"vmmap_pod_emulator_throttled_seconds_total",
                                          "Time the emulator threads were throttled by their quota",
                                          MetricType::Counter,
                                          {}};
  MetricFamily working_set{"vmmap_pod_memory_working_set_bytes",
                           "Working set of the VM's memory cgroup (QEMU and guest)",
                           MetricType::Gauge,
                           {}};
  MetricFamily usage{
      "vmmap_pod_memory_usage_bytes", "Usage of the VM's memory cgroup", MetricType::Gauge, {}};
  MetricFamily hard_limit{"vmmap_pod_memory_hard_limit_bytes",
                          "The VM's memtune hard_limit (guest + predicted VMM overhead)",
                          MetricType::Gauge,
                          {}};
  MetricFamily guest{"vmmap_pod_memory_guest_bytes",
                     "The guest's RAM as vmmap planned it (the guest part of hard_limit)",
                     MetricType::Gauge,
                     {}};
  MetricFamily vmm{"vmmap_pod_vmm_memory_bytes",
                   "Memory the VMM (QEMU) takes beyond the guest's RAM: cgroup usage - guest "
                   "(guest RAM is locked, so resident, from the start)",
                   MetricType::Gauge,
                   {}};
  MetricFamily vmm_predicted{"vmmap_pod_vmm_memory_predicted_bytes",
                             "The VMM overhead vmmap predicted and enforces: hard_limit - guest "
                             "(what the RuntimeClass's podFixed.memory should cover)",
                             MetricType::Gauge,
                             {}};
};

void Add(MetricFamily& family, const PodStatsRecord& pod, std::optional<double> value,
         bool counter) {
  if (!value) return;
  ClientMetric m;
  m.label = {{"namespace", pod.metadata.namespace_name},
             {"pod", pod.metadata.name},
             {"sandbox_id", pod.id}};
  if (counter) {
    m.counter.value = *value;
  } else {
    m.gauge.value = *value;
  }
  family.metric.push_back(std::move(m));
}

std::optional<double> Seconds(const std::optional<uint64_t>& ns) {
  if (!ns) return std::nullopt;
  return static_cast<double>(*ns) / 1e9;
}

std::optional<double> Number(const std::optional<uint64_t>& v) {
  if (!v) return std::nullopt;
  return static_cast<double>(*v);
}

}  // namespace

std::vector<MetricFamily> PodMetrics::Collect() const {
  Families f;
  absl::StatusOr<std::vector<PodStatsRecord>> pods = stats_->ListPodStats(SandboxFilter{});
  if (pods.ok()) {
    for (const PodStatsRecord& pod : *pods) {
      Add(f.cpu, pod, Seconds(pod.cpu.usage_core_ns), true);
      // Per-vCPU times are kept per container (PodStatsRecord).
      std::optional<double> vcpu_seconds;
      for (const ContainerStatsRecord& c : pod.containers) {
        for (uint64_t v : c.cpu.vcpu_ns) vcpu_seconds = vcpu_seconds.value_or(0) + v / 1e9;
      }
      Add(f.vcpu, pod, vcpu_seconds, true);
      Add(f.emulator, pod, Seconds(pod.cpu.emulator_ns), true);
      Add(f.throttled_periods, pod, Number(pod.cpu.nr_throttled), true);
      Add(f.throttled_seconds, pod, Seconds(pod.cpu.throttled_ns), true);
      Add(f.vcpu_throttled_periods, pod, Number(pod.cpu.vcpu_nr_throttled), true);
      Add(f.vcpu_throttled_seconds, pod, Seconds(pod.cpu.vcpu_throttled_ns), true);
      Add(f.emulator_throttled_periods, pod, Number(pod.cpu.emulator_nr_throttled), true);
      Add(f.emulator_throttled_seconds, pod, Seconds(pod.cpu.emulator_throttled_ns), true);
      Add(f.working_set, pod, Number(pod.memory.working_set_bytes), false);
      Add(f.usage, pod, Number(pod.memory.usage_bytes), false);
      Add(f.hard_limit, pod, Number(pod.memory.limit_bytes), false);
      const MemoryStats& m = pod.memory;
      Add(f.guest, pod, Number(m.guest_bytes), false);
      if (m.guest_bytes && m.usage_bytes) {
        Add(f.vmm, pod,
            *m.usage_bytes > *m.guest_bytes ? static_cast<double>(*m.usage_bytes - *m.guest_bytes)
                                            : 0.0,
            false);
      }
      if (m.guest_bytes && m.limit_bytes && *m.limit_bytes > *m.guest_bytes) {
        Add(f.vmm_predicted, pod, static_cast<double>(*m.limit_bytes - *m.guest_bytes), false);
      }
    }
  }
  // A failed read leaves the families empty: a scrape never fails for it.
  return {std::move(f.cpu),
          std::move(f.vcpu),
          std::move(f.emulator),
          std::move(f.throttled_periods),
          std::move(f.throttled_seconds),
          std::move(f.vcpu_throttled_periods),
          std::move(f.vcpu_throttled_seconds),
          std::move(f.emulator_throttled_periods),
          std::move(f.emulator_throttled_seconds),
          std::move(f.working_set),
          std::move(f.usage),
          std::move(f.hard_limit),
          std::move(f.guest),
          std::move(f.vmm),
          std::move(f.vmm_predicted)};
}

}  // namespace vmmap
