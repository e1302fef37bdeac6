#include "server/runtime/post_start.h"

#include "absl/strings/str_cat.h"
#include "mapper/planner.h"
#include "server/base/log.h"
#include "server/runtime/domains.h"
#include "server/runtime/plan_input.h"

namespace vmmap {

absl::StatusOr<PostStartLimits> PlanPostStartLimits(const SandboxConfig& sandbox,
                                                    const ContainerRecord& container,
                                                    const NodeConfig& node) {
  absl::StatusOr<DomainPlan> plan = PlanContainerDomain(sandbox, container, node);
  if (!plan.ok()) return plan.status();
  return PostStartLimitsOf(plan->spec);
}

PostStartOutcome ApplyPostStartLimits(virt::Hypervisor& hypervisor, const std::string& domain_name,
                                      const PostStartLimits& limits) {
  if (limits.empty()) return {};
  virt::CpuTuneUpdate update;
  if (limits.emulator_period_us) update.emulator_period = *limits.emulator_period_us;
  update.emulator_quota = limits.emulator_quota_us;
  absl::Status applied = hypervisor.SetSchedulerParameters(domain_name, update, /*live=*/true);
  if (applied.ok()) return {};
  absl::Status destroyed = PowerOff(hypervisor, domain_name);
  const bool stopped = destroyed.ok();
  VMMAP_LOG(kError, "domain ", domain_name, ": emulator quota not applied after start (",
            applied.message(), "); destroyed: ", stopped ? "yes" : destroyed.ToString());
  const std::string what = absl::StrCat(
      "applying the emulator quota ", limits.emulator_quota_us.value_or(-1), " µs per ",
      limits.emulator_period_us.value_or(0), " µs to the started domain failed");
  if (!stopped) {
    return {
        absl::Status(applied.code(), absl::StrCat(what,
                                                  ", and destroying it failed too (it runs without "
                                                  "its limits): ",
                                                  applied.message(), "; ", destroyed.message())),
        false};
  }
  return {absl::Status(applied.code(),
                       absl::StrCat(what,
                                    ", so it was destroyed (a VM never runs without its "
                                    "limits): ",
                                    applied.message())),
          true};
}

}  // namespace vmmap
