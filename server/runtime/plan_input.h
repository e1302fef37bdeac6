// A stored sandbox (plus its container's resources) as the mapper's input.
#ifndef VMMAP_SERVER_RUNTIME_PLAN_INPUT_H_
#define VMMAP_SERVER_RUNTIME_PLAN_INPUT_H_

#include <cstdint>

#include "mapper/resources.h"
#include "server/state/records.h"

namespace vmmap {

PodSandboxInput PlanInputFor(const SandboxConfig& sandbox, const LinuxResources& container,
                             uint32_t container_attempt);

}  // namespace vmmap

#endif  // VMMAP_SERVER_RUNTIME_PLAN_INPUT_H_
