#include "mapper/startup_limits.h"

#include <utility>

namespace vmmap {

PostStartLimits PostStartLimitsOf(const DomainSpec& spec) {
  return PostStartLimits{spec.cputune.emulator_period_us, spec.cputune.emulator_quota_us};
}

StartupSplit SplitStartupLimits(DomainSpec spec) {
  StartupSplit split;
  split.after_start = PostStartLimitsOf(spec);
  spec.cputune.emulator_period_us.reset();
  spec.cputune.emulator_quota_us.reset();
  split.boot = std::move(spec);
  return split;
}

}  // namespace vmmap
