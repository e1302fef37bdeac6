// The limits a container's domain gets right after it starts
// (mapper/startup_limits.h: the emulator quota would otherwise throttle
// QEMU's own start-up ~10×).
//
// Invariant kept with StartContainer and recovery: a domain that runs has all
// of its limits, or is destroyed. StartContainer applies them before it
// records RUNNING; a crash in between leaves a CREATED row with a running
// domain, which recovery completes (ApplyPostStartLimits, then RUNNING).
#ifndef VMMAP_SERVER_RUNTIME_POST_START_H_
#define VMMAP_SERVER_RUNTIME_POST_START_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mapper/node_config.h"
#include "mapper/startup_limits.h"
#include "server/state/records.h"
#include "server/virt/hypervisor.h"

namespace vmmap {

// PURE: planned from the stored records exactly as CreateContainer planned
// the domain.
absl::StatusOr<PostStartLimits> PlanPostStartLimits(const SandboxConfig& sandbox,
                                                    const ContainerRecord& container,
                                                    const NodeConfig& node);

// What ApplyPostStartLimits did. On failure it destroys the domain itself,
// so callers never destroy again; `domain_destroyed` is false only when
// `status` is OK or the destroy failed too (the invariant above is then
// broken and `status` says so).
struct PostStartOutcome {
  absl::Status status;
  bool domain_destroyed = false;
};

// Applies `limits` to the running domain (live, and to its persistent
// definition). On failure the domain is destroyed and the error says so.
PostStartOutcome ApplyPostStartLimits(virt::Hypervisor& hypervisor, const std::string& domain_name,
                                      const PostStartLimits& limits);

}  // namespace vmmap

#endif  // VMMAP_SERVER_RUNTIME_POST_START_H_
