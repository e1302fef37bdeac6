// What a domain's observed state means for its container's record: a PURE
// function, applied only under the container's lock (see PodRuntime).
#ifndef VMMAP_SERVER_RUNTIME_DOMAIN_OBSERVATION_H_
#define VMMAP_SERVER_RUNTIME_DOMAIN_OBSERVATION_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "server/state/records.h"
#include "server/virt/hypervisor.h"

namespace vmmap {

// The record after observing `status` (the domain's state, or NotFound if
// libvirt has no such domain), or nullopt if nothing changed. Any error
// other than NotFound changes nothing: libvirt unreachable is not a state.
// Only CREATED/RUNNING committed rows change:
//  * domain gone → EXITED, exit 255, reason DomainVanished;
//  * RUNNING and shut off → EXITED 0 Completed; crashed → EXITED 1 Crashed;
//  * RUNNING and shut off with libvirt's reason "crashed" (QEMU died under
//    the guest: SIGKILL from the OOM killer when the domain's cgroup reached
//    its hard_limit, or a QEMU crash) → EXITED 137 QemuKilled, never a
//    successful exit.
std::optional<ContainerRecord> ObserveDomain(const ContainerRecord& record,
                                             const absl::StatusOr<virt::DomainStatus>& status,
                                             int64_t now_ns);

}  // namespace vmmap

#endif  // VMMAP_SERVER_RUNTIME_DOMAIN_OBSERVATION_H_
