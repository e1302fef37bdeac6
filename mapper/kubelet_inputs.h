// What kubelet would send over CRI for a pod manifest: the container's
// LinuxContainerResources, the pod totals (RunPodSandbox linux.resources),
// the overhead and the cgroup parent. `vmmap render` uses this so that YAML
// and CRI input meet in one mapper.
#ifndef VMMAP_MAPPER_KUBELET_INPUTS_H_
#define VMMAP_MAPPER_KUBELET_INPUTS_H_

#include <string>
#include <vector>

#include "mapper/pod_manifest.h"
#include "mapper/resources.h"

namespace vmmap {

enum class CgroupDriver { kCgroupfs, kSystemd };

enum class QosClass { kGuaranteed, kBurstable, kBestEffort };
const char* QosClassName(QosClass qos);

// The QoS class as the API server computes it (pkg/apis/core/helper/qos).
QosClass ComputeQosClass(const PodManifest& pod);

// The container's resources with API defaulting applied (request = limit
// when only the limit is set), translated like kubelet's
// calculateLinuxResources.
LinuxResources ContainerResourcesFor(const ContainerSpec& container);

// Pod totals: app containers summed, then max'd with each init container; a
// CPU (memory) limit only if every container has one. Overhead excluded.
LinuxResources PodResourcesFor(const PodManifest& pod);

// spec.overhead as kubelet passes it in linux.overhead.
LinuxResources OverheadFor(const PodManifest& pod);

// The pod cgroup kubelet would create: /kubepods[/burstable|/besteffort]/pod<uid>
// for cgroupfs, kubepods[-burstable|-besteffort]-pod<uid_>.slice for systemd.
std::string CgroupParentFor(const PodManifest& pod, CgroupDriver driver);

// The mounts kubelet would send in CreateContainer for `container`, in
// kubelet's order: its volumeMounts (with the service-account token the
// ServiceAccount admission plugin adds, unless automountServiceAccountToken
// is false or a mount already sits at its path), then kubelet's own files,
// /etc/hosts and the termination message file. Host paths follow kubelet's
// layout under /var/lib/kubelet/pods/<uid>/ (a hostPath volume: its path).
// A subPath of a configMap, secret, projected or downwardAPI volume is a
// file (one key); any other subPath and every whole volume a directory.
std::vector<VolumeMount> KubeletMountsFor(const PodManifest& pod, const ContainerSpec& container);

// The full CRI-shaped input for the pod; the pod's first app container is the VM's.
PodSandboxInput SandboxInputFor(const PodManifest& pod, CgroupDriver driver);

}  // namespace vmmap

#endif  // VMMAP_MAPPER_KUBELET_INPUTS_H_
