// Pod manifests (YAML) parsed and validated into typed pods.
//
// Accepts a Pod, or the pod template of a Deployment, StatefulSet, DaemonSet,
// ReplicaSet, Job or CronJob; a multi-document stream yields one pod per
// document that holds one. Every quantity is parsed here, so a pod that leaves
// this file is well-formed: later stages never see text.
#ifndef VMMAP_MAPPER_POD_MANIFEST_H_
#define VMMAP_MAPPER_POD_MANIFEST_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"

namespace vmmap {

// A volume of spec.volumes, as far as it decides what kubelet prepares on
// the host: its name and which source it has.
struct VolumeSpec {
  std::string name;
  // The volume source's key: "emptyDir", "configMap", "secret", "projected",
  // "downwardAPI", "hostPath", "persistentVolumeClaim", … (any other key is
  // kept as it is spelled; kubelet_inputs.h decides what it means).
  std::string source;
  std::string host_path;  // hostPath.path, for source "hostPath"
};

// A container's volumeMounts[i].
struct VolumeMountSpec {
  std::string name;        // a VolumeSpec's name
  std::string mount_path;  // where the container sees it
  std::string sub_path;    // empty: the whole volume
  bool read_only = false;
};

struct ContainerSpec {
  std::string name;
  std::vector<VolumeMountSpec> volume_mounts;
  // The API server's default; kubelet mounts a host file there.
  std::string termination_message_path = "/dev/termination-log";
  // Millicores and bytes; absent when the manifest does not set them.
  std::optional<int64_t> cpu_request_milli;
  std::optional<int64_t> cpu_limit_milli;
  std::optional<int64_t> memory_request_bytes;
  std::optional<int64_t> memory_limit_bytes;
};

struct PodManifest {
  std::string source_kind;  // "Pod", "Deployment", … (what the document was)
  std::string name;
  std::string namespace_name;
  std::string uid;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<ContainerSpec> containers;
  std::vector<ContainerSpec> init_containers;
  std::vector<VolumeSpec> volumes;
  // spec.automountServiceAccountToken; unset means the ServiceAccount
  // admission plugin mounts the token (it is true unless said otherwise).
  bool automount_service_account_token = true;
  std::optional<int64_t> overhead_cpu_milli;
  std::optional<int64_t> overhead_memory_bytes;
};

// The keys from a document of `kind` to its pod template (empty for a Pod);
// nullopt when the kind holds no pod.
std::optional<std::vector<absl::string_view>> PodTemplateKeys(absl::string_view kind);

// Parses every document in `yaml`. Errors are InvalidArgument and carry
// "line L, column C" (1-based) plus the field path and the offending value.
absl::StatusOr<std::vector<PodManifest>> ParsePodManifests(absl::string_view yaml);

}  // namespace vmmap

#endif  // VMMAP_MAPPER_POD_MANIFEST_H_
