#include "server/runtime/live_resize.h"

#include <pugixml.hpp>

#include "absl/strings/str_cat.h"
#include "mapper/planner.h"
#include "server/runtime/plan_input.h"

namespace vmmap {
namespace {

constexpr int64_t kDefaultPeriodUs = 100000;

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

absl::Status ApplyResize(virt::Hypervisor& hypervisor, const std::string& domain_name,
                         const ResizePlan& plan) {
  absl::StatusOr<virt::CpuTuneUpdate> before = hypervisor.GetSchedulerParameters(domain_name);
  if (!before.ok()) return before.status();
  if (absl::Status s = hypervisor.SetSchedulerParameters(domain_name, plan.cpu, true); !s.ok()) {
    return s;
  }
  if (!plan.hard_limit_kib) return absl::OkStatus();
  absl::Status memory = hypervisor.SetMemoryHardLimit(domain_name, *plan.hard_limit_kib);
  if (memory.ok()) return memory;
  absl::Status restored = hypervisor.SetSchedulerParameters(domain_name, *before, true);
  return absl::Status(
      memory.code(),
      absl::StrCat(memory.message(), restored.ok() ? "; CPU limits put back as they were"
                                                   : absl::StrCat("; putting the CPU limits "
                                                                  "back failed too: ",
                                                                  restored.message())));
}

}  // namespace vmmap
