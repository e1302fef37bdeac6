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
#include "tests/fuzz/plan_invariants.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view yaml(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<vmmap::PodManifest>> pods = vmmap::ParsePodManifests(yaml);
  if (!pods.ok()) return 0;
  for (const vmmap::PodManifest& pod : *pods) {
    for (vmmap::CgroupDriver driver :
         {vmmap::CgroupDriver::kCgroupfs, vmmap::CgroupDriver::kSystemd}) {
      vmmap::NodeConfig node;
      node.cgroup_driver = driver;
      absl::StatusOr<vmmap::DomainPlan> plan =
          vmmap::PlanDomain(vmmap::SandboxInputFor(pod, driver), node);
      if (!plan.ok()) continue;
      vmmap::fuzz::CheckPlanInvariants(plan->spec);
    }
  }
  return 0;
}
