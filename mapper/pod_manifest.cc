#include "mapper/pod_manifest.h"

#include <yaml-cpp/yaml.h>

#include "absl/strings/str_cat.h"
#include "mapper/quantity.h"

namespace vmmap {
namespace {

std::string Where(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) return "";
  return absl::StrCat("line ", mark.line + 1, ", column ", mark.column + 1, ": ");
}

absl::Status Error(const YAML::Node& node, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(Where(node), message));
}

absl::Status ExpectMap(const YAML::Node& node, const std::string& path) {
  if (node.IsMap()) return absl::OkStatus();
  return Error(node, absl::StrCat(path, ": expected a mapping"));
}

absl::StatusOr<std::string> ScalarString(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) return Error(node, absl::StrCat(path, ": expected a string"));
  return node.Scalar();
}

absl::StatusOr<std::map<std::string, std::string>> StringMap(const YAML::Node& node,
                                                             const std::string& path) {
  std::map<std::string, std::string> out;
  if (!node || node.IsNull()) return out;
  if (absl::Status s = ExpectMap(node, path); !s.ok()) return s;
  for (const auto& entry : node) {
    const std::string key = entry.first.Scalar();
    absl::StatusOr<std::string> value = ScalarString(entry.second, absl::StrCat(path, ".", key));
    if (!value.ok()) return value.status();
    out[key] = *value;
  }
  return out;
}

// Parses one resource quantity at `path`; `cpu` selects millicores over bytes.
absl::StatusOr<std::optional<int64_t>> ResourceValue(const YAML::Node& resources,
                                                     const char* resource,
                                                     const std::string& path, bool cpu) {
  const YAML::Node node = resources[resource];
  if (!node || node.IsNull()) return std::optional<int64_t>();
  const std::string field = absl::StrCat(path, ".", resource);
  if (!node.IsScalar()) return Error(node, absl::StrCat(field, ": expected a quantity"));
  absl::StatusOr<Quantity> q = Quantity::Parse(node.Scalar(), field);
  if (!q.ok()) return Error(node, q.status().message());
  absl::StatusOr<int64_t> value = cpu ? q->Milli() : q->Units();
  if (!value.ok()) return Error(node, value.status().message());
  return std::optional<int64_t>(*value);
}

absl::StatusOr<ContainerSpec> ParseContainer(const YAML::Node& node, const std::string& path) {
  if (absl::Status s = ExpectMap(node, path); !s.ok()) return s;
  ContainerSpec c;
  if (node["name"]) {
    absl::StatusOr<std::string> name = ScalarString(node["name"], path + ".name");
    if (!name.ok()) return name.status();
    c.name = *name;
  }
  const YAML::Node resources = node["resources"];
  if (!resources || resources.IsNull()) return c;
  const std::string rpath = path + ".resources";
  if (absl::Status s = ExpectMap(resources, rpath); !s.ok()) return s;
  struct Slot {
    const char* section;
    const char* resource;
    bool cpu;
    std::optional<int64_t>* out;
  } slots[] = {
      {"requests", "cpu", true, &c.cpu_request_milli},
      {"limits", "cpu", true, &c.cpu_limit_milli},
      {"requests", "memory", false, &c.memory_request_bytes},
      {"limits", "memory", false, &c.memory_limit_bytes},
  };
  for (const Slot& slot : slots) {
    const YAML::Node section = resources[slot.section];
    if (!section || section.IsNull()) continue;
    const std::string spath = absl::StrCat(rpath, ".", slot.section);
    if (absl::Status s = ExpectMap(section, spath); !s.ok()) return s;
    absl::StatusOr<std::optional<int64_t>> value =
        ResourceValue(section, slot.resource, spath, slot.cpu);
    if (!value.ok()) return value.status();
    *slot.out = *value;
  }
  return c;
}

absl::StatusOr<std::vector<ContainerSpec>> ParseContainers(const YAML::Node& node,
                                                           const std::string& path) {
  std::vector<ContainerSpec> out;
  if (!node || node.IsNull()) return out;
  if (!node.IsSequence()) return Error(node, absl::StrCat(path, ": expected a list"));
  for (size_t i = 0; i < node.size(); ++i) {
    absl::StatusOr<ContainerSpec> c = ParseContainer(node[i], absl::StrCat(path, "[", i, "]"));
    if (!c.ok()) return c.status();
    out.push_back(std::move(*c));
  }
  return out;
}

// Fills `pod` from a metadata mapping; fields already set are kept, so a pod
// template's own metadata wins over its workload's.
absl::Status MergeMetadata(const YAML::Node& node, const std::string& path, PodManifest& pod) {
  if (!node || node.IsNull()) return absl::OkStatus();
  if (absl::Status s = ExpectMap(node, path); !s.ok()) return s;
  struct Field {
    const char* key;
    std::string* out;
  } fields[] = {{"name", &pod.name}, {"namespace", &pod.namespace_name}, {"uid", &pod.uid}};
  for (const Field& f : fields) {
    if (!node[f.key] || !f.out->empty()) continue;
    absl::StatusOr<std::string> v = ScalarString(node[f.key], absl::StrCat(path, ".", f.key));
    if (!v.ok()) return v.status();
    *f.out = *v;
  }
  for (const char* key : {"labels", "annotations"}) {
    absl::StatusOr<std::map<std::string, std::string>> m =
        StringMap(node[key], absl::StrCat(path, ".", key));
    if (!m.ok()) return m.status();
    auto& target = std::string(key) == "labels" ? pod.labels : pod.annotations;
    target.insert(m->begin(), m->end());  // insert keeps existing keys
  }
  return absl::OkStatus();
}

absl::Status ParsePodSpec(const YAML::Node& spec, const std::string& path, PodManifest& pod) {
  if (!spec) return absl::InvalidArgumentError(absl::StrCat(path, ": missing"));
  if (absl::Status s = ExpectMap(spec, path); !s.ok()) return s;
  absl::StatusOr<std::vector<ContainerSpec>> containers =
      ParseContainers(spec["containers"], path + ".containers");
  if (!containers.ok()) return containers.status();
  if (containers->empty()) {
    return Error(spec, absl::StrCat(path, ".containers: a pod needs at least one container"));
  }
  pod.containers = std::move(*containers);
  absl::StatusOr<std::vector<ContainerSpec>> init =
      ParseContainers(spec["initContainers"], path + ".initContainers");
  if (!init.ok()) return init.status();
  pod.init_containers = std::move(*init);

  const YAML::Node overhead = spec["overhead"];
  if (overhead && !overhead.IsNull()) {
    const std::string opath = path + ".overhead";
    if (absl::Status s = ExpectMap(overhead, opath); !s.ok()) return s;
    absl::StatusOr<std::optional<int64_t>> cpu = ResourceValue(overhead, "cpu", opath, true);
    if (!cpu.ok()) return cpu.status();
    absl::StatusOr<std::optional<int64_t>> mem = ResourceValue(overhead, "memory", opath, false);
    if (!mem.ok()) return mem.status();
    pod.overhead_cpu_milli = *cpu;
    pod.overhead_memory_bytes = *mem;
  }
  return absl::OkStatus();
}

// Where each workload kind keeps its pod template, relative to the document.
struct TemplatePath {
  const char* kind;
  std::vector<const char*> keys;
};

const std::vector<TemplatePath>& TemplatePaths() {
  static const auto* paths = new std::vector<TemplatePath>{
      {"Pod", {}},
      {"Deployment", {"spec", "template"}},
      {"StatefulSet", {"spec", "template"}},
      {"DaemonSet", {"spec", "template"}},
      {"ReplicaSet", {"spec", "template"}},
      {"Job", {"spec", "template"}},
      {"CronJob", {"spec", "jobTemplate", "spec", "template"}},
  };
  return *paths;
}

absl::StatusOr<PodManifest> ParseDocument(const YAML::Node& doc) {
  if (absl::Status s = ExpectMap(doc, "document"); !s.ok()) return s;
  if (!doc["kind"] || !doc["kind"].IsScalar()) {
    return Error(doc, "kind: missing (expected Pod, Deployment, StatefulSet, DaemonSet, "
                      "ReplicaSet, Job or CronJob)");
  }
  const std::string kind = doc["kind"].Scalar();
  const TemplatePath* where = nullptr;
  for (const TemplatePath& t : TemplatePaths()) {
    if (kind == t.kind) where = &t;
  }
  if (where == nullptr) {
    return Error(doc["kind"], absl::StrCat("kind: \"", kind,
                                           "\" holds no pod (expected Pod, Deployment, "
                                           "StatefulSet, DaemonSet, ReplicaSet, Job or CronJob)"));
  }
  PodManifest pod;
  pod.source_kind = kind;
  YAML::Node pod_node = doc;
  std::string path;
  for (const char* key : where->keys) {
    path = path.empty() ? key : absl::StrCat(path, ".", key);
    YAML::Node next = pod_node[key];
    if (!next || !next.IsMap()) {
      return Error(pod_node, absl::StrCat(path, ": missing or not a mapping in ", kind));
    }
    pod_node.reset(next);  // operator= would overwrite the document itself
  }
  const std::string prefix = path.empty() ? "" : path + ".";
  if (absl::Status s = MergeMetadata(pod_node["metadata"], prefix + "metadata", pod); !s.ok()) {
    return s;
  }
  if (!where->keys.empty()) {
    // A template's pods take the workload's name and namespace.
    if (absl::Status s = MergeMetadata(doc["metadata"], "metadata", pod); !s.ok()) return s;
  }
  if (pod.namespace_name.empty()) pod.namespace_name = "default";
  if (pod.name.empty()) return Error(doc, "metadata.name: missing");
  if (absl::Status s = ParsePodSpec(pod_node["spec"], prefix + "spec", pod); !s.ok()) return s;
  return pod;
}

}  // namespace

absl::StatusOr<std::vector<PodManifest>> ParsePodManifests(absl::string_view yaml) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::ParserException& e) {
    return absl::InvalidArgumentError(absl::StrCat("line ", e.mark.line + 1, ", column ",
                                                   e.mark.column + 1, ": malformed YAML: ", e.msg));
  }
  std::vector<PodManifest> pods;
  for (const YAML::Node& doc : docs) {
    if (!doc || doc.IsNull()) continue;  // empty document between "---" separators
    try {
      absl::StatusOr<PodManifest> pod = ParseDocument(doc);
      if (!pod.ok()) return pod.status();
      pods.push_back(std::move(*pod));
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(absl::StrCat("line ", e.mark.line + 1, ", column ",
                                                     e.mark.column + 1, ": ", e.msg));
    }
  }
  if (pods.empty()) return absl::InvalidArgumentError("no pod found in the input");
  return pods;
}

}  // namespace vmmap
