// The whole offline path a pod author drives: YAML manifest → typed pods →
// domain plan → XML. Any input must end in a value or a Status; a plan that
// is produced must keep the mapper's invariants (mapper/domain_spec.h).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "mapper/domain_xml.h"
#include "mapper/kubelet_inputs.h"
#include "mapper/planner.h"
#include "mapper/pod_manifest.h"

namespace {

void CheckInvariants(const vmmap::DomainSpec& s) {
  if (s.vcpus < 1) abort();
  const vmmap::CpuTune& t = s.cputune;
  if (t.quota_us && t.emulator_quota_us && t.global_quota_us &&
      s.vcpus * *t.quota_us + *t.emulator_quota_us > *t.global_quota_us) {
    abort();
  }
  if (s.hard_limit_kib && *s.hard_limit_kib < s.memory_kib) abort();
  if (s.memory_locked && !s.hard_limit_kib) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view yaml(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<vmmap::PodManifest>> pods = vmmap::ParsePodManifests(yaml);
  if (!pods.ok()) return 0;
  for (const vmmap::PodManifest& pod : *pods) {
    for (vmmap::CgroupDriver driver : {vmmap::CgroupDriver::kCgroupfs, vmmap::CgroupDriver::kSystemd}) {
      vmmap::NodeConfig node;
      node.cgroup_driver = driver;
      absl::StatusOr<vmmap::DomainPlan> plan =
          vmmap::PlanDomain(vmmap::SandboxInputFor(pod, driver), node);
      if (!plan.ok()) continue;
      CheckInvariants(plan->spec);
      if (!vmmap::RenderDomainXml(plan->spec).ok()) abort();  // a valid plan always renders
    }
  }
  return 0;
}
