// The resource values kubelet sends over CRI, as plain data. These mirror the
// fields of runtime.v1.LinuxContainerResources that vmmap reads, so that the
// mapper has one input whether it is fed by the CRI server or by `vmmap render`.
#ifndef VMMAP_MAPPER_RESOURCES_H_
#define VMMAP_MAPPER_RESOURCES_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mapper/volume_mounts.h"

namespace vmmap {

struct LinuxResources {
  int64_t cpu_period_us = 0;       // 0: unset (kubelet's default period applies)
  int64_t cpu_quota_us = 0;        // ≤ 0: no CPU limit
  int64_t cpu_shares = 0;          // 0: unset
  int64_t memory_limit_bytes = 0;  // 0: no memory limit
  std::string cpuset_cpus;         // set by kubelet's static CPU manager

  bool HasCpuLimit() const { return cpu_quota_us > 0; }
  bool HasMemoryLimit() const { return memory_limit_bytes > 0; }
  bool IsEmpty() const {
    return cpu_quota_us <= 0 && cpu_shares == 0 && memory_limit_bytes == 0 && cpuset_cpus.empty();
  }
};

// Identity of a pod sandbox (runtime.v1.PodSandboxMetadata).
struct PodIdentity {
  std::string name;
  std::string namespace_name;
  std::string uid;
  uint32_t attempt = 0;            // the sandbox's attempt
  uint32_t container_attempt = 0;  // kubelet restarts a container with attempt + 1
};

// Everything the mapper needs about one pod, exactly as kubelet would send it:
// RunPodSandbox's linux.resources / linux.overhead / linux.cgroup_parent and
// annotations, plus the single container's own LinuxContainerResources.
struct PodSandboxInput {
  PodIdentity identity;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::string cgroup_parent;
  LinuxResources pod_resources;        // pod totals, overhead excluded
  LinuxResources overhead;             // pod.spec.overhead (RuntimeClass)
  LinuxResources container_resources;  // the container's own limits
  std::vector<VolumeMount> mounts;     // the container's volumes (CreateContainer)
};

}  // namespace vmmap

#endif  // VMMAP_MAPPER_RESOURCES_H_
