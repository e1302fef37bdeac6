// Limits that only throttle QEMU while it starts are applied to the running
// domain right after virDomainCreate succeeds, not written into the XML that
// is started.
//
// Why: libvirt applies <emulator_period>/<emulator_quota> from the moment
// QEMU is exec'd, so everything QEMU and libvirt do before the guest runs
// (QMP handshake, libvirt's guest-CPU check of ~400 qom-get calls, device
// setup) ran at the emulator's slice, 10 ms per 100 ms by default:
// virDomainCreate took 8.1 s with it and 0.82 s without it plus a live
// update afterwards (issue 11). The pod's total stays bounded throughout by
// <global_quota>, which is never deferred, and the vCPU quotas (vCPU threads
// do not run before the guest does) stay in the XML as well.
//
// Invariant: Merge(SplitStartupLimits(spec)) == spec; the caller applies
// `after_start` as one step whose failure destroys the domain (never a
// running VM without all of its limits).
#ifndef VMMAP_MAPPER_STARTUP_LIMITS_H_
#define VMMAP_MAPPER_STARTUP_LIMITS_H_

#include <cstdint>
#include <optional>

#include "mapper/domain_spec.h"

namespace vmmap {

// The limits left out of the started XML. Unset: nothing to apply.
struct PostStartLimits {
  std::optional<int64_t> emulator_period_us;
  std::optional<int64_t> emulator_quota_us;

  bool empty() const { return !emulator_period_us && !emulator_quota_us; }
  friend bool operator==(const PostStartLimits& a, const PostStartLimits& b) {
    return a.emulator_period_us == b.emulator_period_us &&
           a.emulator_quota_us == b.emulator_quota_us;
  }
};

struct StartupSplit {
  DomainSpec boot;              // what is defined and started
  PostStartLimits after_start;  // applied live once QEMU runs
};

StartupSplit SplitStartupLimits(DomainSpec spec);

// The limits of `spec` that SplitStartupLimits defers (for recovery, which
// re-applies them to running domains that lack them).
PostStartLimits PostStartLimitsOf(const DomainSpec& spec);

}  // namespace vmmap

#endif  // VMMAP_MAPPER_STARTUP_LIMITS_H_
