#include "server/runtime/live_resize.h"

#include <pugixml.hpp>

#include "absl/strings/str_cat.h"
#include "mapper/planner.h"
#include "server/runtime/plan_input.h"

namespace vmmap {
namespace {

constexpr int64_t kDefaultPeriodUs = 100000;

}  // namespace

absl::StatusOr<int> VcpusOfDomainXml(const std::string& xml) {
  pugi::xml_document doc;
  if (!doc.load_string(xml.c_str())) {
    return absl::InvalidArgumentError("the domain's XML from libvirt does not parse");
  }
  const int vcpus = doc.child("domain").child("vcpu").text().as_int(0);
  if (vcpus < 1) return absl::InvalidArgumentError("the domain's XML names no <vcpu> count");
  return vcpus;
}

absl::StatusOr<ResizePlan> PlanResize(const SandboxConfig& sandbox,
                                      const ContainerConfig& container,
                                      const LinuxResources& wanted, int vcpus,
                                      const NodeConfig& node) {
  // The new limits are the container's; the pod totals of RunPodSandbox no
  // longer apply once kubelet resizes.
  PodSandboxInput input = PlanInputFor(sandbox, wanted, container.metadata.attempt);
  input.pod_resources = LinuxResources();
  input.annotations.erase("VirtletVCPUCount");
  input.annotations["vmmap.io/vcpus"] = absl::StrCat(vcpus);
  absl::StatusOr<DomainPlan> plan = PlanDomain(input, node);
  if (!plan.ok()) return plan.status();

  const CpuTune& t = plan->spec.cputune;
  ResizePlan out;
  out.vcpus = vcpus;
  if (t.shares) out.cpu.shares = *t.shares;
  // Unset quotas become "unlimited" (-1): a removed limit must be lifted.
  out.cpu.global_period = t.global_period_us.value_or(kDefaultPeriodUs);
  out.cpu.global_quota = t.global_quota_us.value_or(-1);
  out.cpu.period = t.period_us.value_or(kDefaultPeriodUs);
  out.cpu.quota = t.quota_us.value_or(-1);
  out.cpu.emulator_period = t.emulator_period_us.value_or(kDefaultPeriodUs);
  out.cpu.emulator_quota = t.emulator_quota_us.value_or(-1);
  out.hard_limit_kib = plan->spec.hard_limit_kib;
  return out;
}

absl::Status ApplyResize(virt::Hypervisor& hypervisor, const std::string& domain_name,
                         const ResizePlan& plan) {
  if (absl::Status s = hypervisor.SetSchedulerParameters(domain_name, plan.cpu, true); !s.ok()) {
    return s;
  }
  if (plan.hard_limit_kib) return hypervisor.SetMemoryHardLimit(domain_name, *plan.hard_limit_kib);
  return absl::OkStatus();
}

}  // namespace vmmap
