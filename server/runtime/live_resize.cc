#include "server/runtime/live_resize.h"

#include <algorithm>

#include <pugixml.hpp>

#include "absl/strings/str_cat.h"
#include "mapper/planner.h"
#include "server/runtime/plan_input.h"

namespace vmmap {
namespace {

constexpr int64_t kDefaultPeriodUs = 100000;

bool Unlimited(const virt::CpuTuneUpdate& u) { return !u.global_quota || *u.global_quota < 0; }

// Whether `wanted`'s ceiling (quota per period) is at least `current`'s.
bool CeilingRises(const virt::CpuTuneUpdate& current, const virt::CpuTuneUpdate& wanted) {
  if (Unlimited(wanted)) return true;
  if (Unlimited(current)) return false;
  // q_w / p_w >= q_c / p_c, multiplied out in 128 bits (quotas reach 2^44).
  const __int128 w = static_cast<__int128>(*wanted.global_quota) *
                     static_cast<__int128>(current.global_period.value_or(kDefaultPeriodUs));
  const __int128 c = static_cast<__int128>(*current.global_quota) *
                     static_cast<__int128>(wanted.global_period.value_or(kDefaultPeriodUs));
  return w >= c;
}

absl::Status SetInOrder(virt::Hypervisor& hypervisor, const std::string& domain_name,
                        const virt::CpuTuneUpdate& current, const virt::CpuTuneUpdate& wanted) {
  for (const virt::CpuTuneUpdate& step : OrderedCpuUpdates(current, wanted)) {
    if (absl::Status s = hypervisor.SetSchedulerParameters(domain_name, step, true); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LiveDomainShape> ShapeOfDomainXml(const std::string& xml) {
  pugi::xml_document doc;
  if (!doc.load_string(xml.c_str())) {
    return absl::InvalidArgumentError("the domain's XML from libvirt does not parse");
  }
  const pugi::xml_node domain = doc.child("domain");
  LiveDomainShape shape;
  shape.vcpus = domain.child("vcpu").text().as_int(0);
  if (shape.vcpus < 1) return absl::InvalidArgumentError("the domain's XML names no <vcpu> count");
  const pugi::xml_node memory = domain.child("memory");
  const std::string unit = memory.attribute("unit").as_string("KiB");
  if (unit != "KiB" && unit != "k") {
    return absl::InvalidArgumentError(
        absl::StrCat("the domain's <memory> is in ", unit, ", not KiB"));
  }
  shape.memory_kib = memory.text().as_llong(0);
  if (shape.memory_kib < 1) return absl::InvalidArgumentError("the domain's XML names no <memory>");
  return shape;
}

absl::StatusOr<ResizePlan> PlanResize(const SandboxConfig& sandbox,
                                      const ContainerConfig& container,
                                      const LinuxResources& current, const LinuxResources& wanted,
                                      const LiveDomainShape& shape, const NodeConfig& node) {
  // The new limits are the container's; the pod totals of RunPodSandbox no
  // longer apply once kubelet resizes.
  PodSandboxInput input = PlanInputFor(sandbox, wanted, container.metadata.attempt);
  input.mounts = container.mounts;  // the virtiofsd term stays in hard_limit
  input.pod_resources = LinuxResources();
  input.annotations.erase("VirtletVCPUCount");
  input.annotations["vmmap.io/vcpus"] = absl::StrCat(shape.vcpus);
  absl::StatusOr<DomainPlan> plan = PlanDomain(input, node);
  if (!plan.ok()) return plan.status();
  if (wanted.HasMemoryLimit() && plan->spec.memory_kib < shape.memory_kib) {
    return absl::InvalidArgumentError(absl::StrCat(
        "linux.memory_limit_in_bytes: ", wanted.memory_limit_bytes, " (was ",
        current.memory_limit_bytes, ") leaves the guest ", plan->spec.memory_kib,
        " KiB, below the ", shape.memory_kib,
        " KiB the running guest has; a running VM's memory cannot shrink (recreate the pod)"));
  }

  const CpuTune& t = plan->spec.cputune;
  ResizePlan out;
  out.vcpus = shape.vcpus;
  out.guest_memory_kib = plan->spec.memory_kib;
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

std::vector<virt::CpuTuneUpdate> OrderedCpuUpdates(const virt::CpuTuneUpdate& current,
                                                   const virt::CpuTuneUpdate& wanted) {
  virt::CpuTuneUpdate ceiling;
  ceiling.global_period = wanted.global_period;
  ceiling.global_quota = wanted.global_quota;
  virt::CpuTuneUpdate slices = wanted;
  slices.global_period.reset();
  slices.global_quota.reset();
  std::vector<virt::CpuTuneUpdate> steps;
  if (CeilingRises(current, wanted)) {
    steps = {ceiling, slices};
  } else {
    steps = {slices, ceiling};
  }
  steps.erase(std::remove_if(steps.begin(), steps.end(),
                             [](const virt::CpuTuneUpdate& u) { return u.empty(); }),
              steps.end());
  return steps;
}

absl::Status ApplyResize(virt::Hypervisor& hypervisor, const std::string& domain_name,
                         const ResizePlan& plan) {
  absl::StatusOr<virt::CpuTuneUpdate> before = hypervisor.GetSchedulerParameters(domain_name);
  if (!before.ok()) return before.status();
  if (absl::Status s = SetInOrder(hypervisor, domain_name, *before, plan.cpu); !s.ok()) {
    // A first step may have been applied: put back what was there.
    (void)SetInOrder(hypervisor, domain_name, plan.cpu, *before);
    return s;
  }
  if (!plan.hard_limit_kib) return absl::OkStatus();
  absl::Status memory = hypervisor.SetMemoryHardLimit(domain_name, *plan.hard_limit_kib);
  if (memory.ok()) return memory;
  absl::Status restored = SetInOrder(hypervisor, domain_name, plan.cpu, *before);
  return absl::Status(
      memory.code(),
      absl::StrCat(memory.message(), restored.ok() ? "; CPU limits put back as they were"
                                                   : absl::StrCat("; putting the CPU limits "
                                                                  "back failed too: ",
                                                                  restored.message())));
}

}  // namespace vmmap
