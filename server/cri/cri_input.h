// CRI messages to the mapper's input: the only place that knows both.
#ifndef VMMAP_SERVER_CRI_CRI_INPUT_H_
#define VMMAP_SERVER_CRI_CRI_INPUT_H_

#include "mapper/resources.h"
#include "runtime_v1.pb.h"

namespace vmmap {

LinuxResources FromCri(const runtime::v1::LinuxContainerResources& resources);

// The pod as kubelet described it in RunPodSandbox, plus the container's own
// resources (CreateContainer / UpdateContainerResources).
PodSandboxInput SandboxInputFromCri(const runtime::v1::PodSandboxConfig& sandbox,
                                    const runtime::v1::LinuxContainerResources& container,
                                    uint32_t container_attempt);

}  // namespace vmmap

#endif  // VMMAP_SERVER_CRI_CRI_INPUT_H_
