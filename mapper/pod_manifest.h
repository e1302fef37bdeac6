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

struct ContainerSpec {
  std::string name;
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
