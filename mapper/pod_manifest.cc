#include "mapper/pod_manifest.h"

#include <cstddef>
#include <utility>

#include "absl/strings/str_cat.h"
#include "mapper/quantity.h"
#include "mapper/yaml_tree.h"

namespace vmmap {
namespace {

using yaml::Node;
using yaml::NodeType;

// ---------------------------------------------------------------------------
// Field paths ("spec.containers[0].resources"), spelled out only when an
// error names one: a Path is a chain of stack frames, one per step.

class Path {
 public:
  // A first step ("metadata"), or a step under `parent` ("parent.name"); a
  // null parent makes `name` a first step.
  Path(const Path* parent, absl::string_view name) : parent_(parent), name_(name) {}
  // An item of the list at `parent` ("parent[3]").
  Path(const Path* parent, size_t index) : parent_(parent), index_(index), is_index_(true) {}

  std::string str() const {
    std::string out;
    AppendTo(out);
    return out;
  }

 private:
  void AppendTo(std::string& out) const {
    if (parent_ != nullptr) {
      parent_->AppendTo(out);
      if (is_index_) {
        absl::StrAppend(&out, "[", index_, "]");
        return;
      }
      out.push_back('.');
    }
    out.append(name_.data(), name_.size());
  }

  const Path* parent_;
  absl::string_view name_;
  size_t index_ = 0;
  bool is_index_ = false;
};

// ---------------------------------------------------------------------------
// Node helpers. Every scalar is text: YAML 1.1 booleans, numbers and the like
// mean nothing special for the fields read here.

absl::Status Error(const Node* node, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(yaml::Where(node->start), message));
}

absl::Status ExpectMap(const Node* node, const Path& path) {
  if (node->type == NodeType::kMapping) return absl::OkStatus();
  return Error(node, absl::StrCat(path.str(), ": expected a mapping"));
}

// ---------------------------------------------------------------------------
// Where each workload kind keeps its pod template, relative to the document.

struct TemplatePath {
  absl::string_view kind;
  int depth;  // keys used
  absl::string_view keys[4];
};

constexpr TemplatePath kTemplatePaths[] = {
    {"Pod", 0, {}},
    {"Deployment", 2, {"spec", "template"}},
    {"StatefulSet", 2, {"spec", "template"}},
    {"DaemonSet", 2, {"spec", "template"}},
    {"ReplicaSet", 2, {"spec", "template"}},
    {"Job", 2, {"spec", "template"}},
    {"CronJob", 4, {"spec", "jobTemplate", "spec", "template"}},
};

}  // namespace

std::optional<std::vector<absl::string_view>> PodTemplateKeys(absl::string_view kind) {
  for (const TemplatePath& t : kTemplatePaths) {
    if (kind == t.kind) return std::vector<absl::string_view>(t.keys, t.keys + t.depth);
  }
  return std::nullopt;
}

namespace {

// ---------------------------------------------------------------------------
// One document's pod.
//
// Aliases let a few bytes name one large mapping many times (a containers
// list of N aliases to an N-key mapping costs N² key comparisons), so every
// mapping entry looked at is charged to a budget. Without aliases each mapping
// is scanned a handful of times, and a document holds fewer entries than
// bytes, so a budget proportional to the document's size never trips on
// honest input. Once spent, lookups find nothing and Parse() reports the
// budget, not whatever "missing" error that caused.
class DocumentParser {
 public:
  DocumentParser(const yaml::Tree& tree, const yaml::Tree::Document& doc)
      : tree_(tree),
        root_(&tree.node(doc.root)),
        budget_(kScansPerByte * (doc.end.index - doc.start.index) + kMinBudget) {}

  const Node* Root() const { return root_; }

  absl::StatusOr<PodManifest> Parse() {
    absl::StatusOr<PodManifest> pod = ParseDocument(root_);
    if (over_budget_) {
      return Error(root_, "document too expensive to read (aliases repeat too much of it)");
    }
    return pod;
  }

  absl::string_view Text(const Node* node) const { return tree_.Text(*node); }

  // `key:` with no value, `~` and `null` mean "not set", as they did under
  // yaml-cpp: a plain scalar spelled like the core schema's null. Quoted
  // "null" is a string.
  bool IsNull(const Node* node) const {
    if (node->type != NodeType::kScalar || !node->plain) return false;
    const absl::string_view text = Text(node);
    return text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL";
  }

 private:
  static constexpr size_t kScansPerByte = 16;
  static constexpr size_t kMinBudget = 4096;

  bool IsAbsentOrNull(const Node* node) const { return node == nullptr || IsNull(node); }
  bool IsString(const Node* node) const { return node->type == NodeType::kScalar && !IsNull(node); }

  const Node* Get(yaml::NodeId id) const { return &tree_.node(id); }

  absl::StatusOr<std::string> ScalarString(const Node* node, const Path& path) const {
    if (!IsString(node)) return Error(node, absl::StrCat(path.str(), ": expected a string"));
    return std::string(Text(node));
  }

  // Charges one mapping entry; false once the budget is spent.
  bool Charge() {
    if (budget_ == 0) over_budget_ = true;
    if (over_budget_) return false;
    --budget_;
    return true;
  }

  // The value under `key` in `map` (a mapping), or nullptr when absent. The
  // first match wins, as under yaml-cpp.
  const Node* Find(const Node* map, absl::string_view key) {
    const yaml::NodeId* end = tree_.end(*map);
    for (const yaml::NodeId* entry = tree_.begin(*map); entry < end; entry += 2) {
      if (!Charge()) return nullptr;
      const Node* k = Get(entry[0]);
      if (k->type == NodeType::kScalar && Text(k) == key) return Get(entry[1]);
    }
    return nullptr;
  }

  // Merges a mapping of strings into `out`, keeping the keys `out` already
  // holds; within the mapping a repeated key's last value wins.
  absl::Status MergeStringMap(const Node* node, const Path& path,
                              std::map<std::string, std::string>& out) {
    if (IsAbsentOrNull(node)) return absl::OkStatus();
    if (absl::Status s = ExpectMap(node, path); !s.ok()) return s;
    // Into an empty map (the usual case) the entries go directly; the map is
    // thrown away with the pod if an entry turns out bad.
    std::map<std::string, std::string> fresh;
    std::map<std::string, std::string>& into = out.empty() ? out : fresh;
    const yaml::NodeId* end = tree_.end(*node);
    for (const yaml::NodeId* entry = tree_.begin(*node); entry < end; entry += 2) {
      if (!Charge()) break;
      // A key that is not text (null, a list) reads as "", as under yaml-cpp.
      const Node* k = Get(entry[0]);
      const absl::string_view key = IsString(k) ? Text(k) : absl::string_view();
      const Node* value = Get(entry[1]);
      if (!IsString(value)) {
        return Error(value, absl::StrCat(Path(&path, key).str(), ": expected a string"));
      }
      into[std::string(key)] = std::string(Text(value));
    }
    if (&into != &out) out.insert(fresh.begin(), fresh.end());  // insert keeps existing keys
    return absl::OkStatus();
  }

  // Parses one resource quantity at `path`; `cpu` selects millicores over bytes.
  absl::StatusOr<std::optional<int64_t>> ResourceValue(const Node* resources,
                                                       absl::string_view resource, const Path& path,
                                                       bool cpu) {
    const Node* node = Find(resources, resource);
    if (IsAbsentOrNull(node)) return std::optional<int64_t>();
    if (node->type != NodeType::kScalar) {
      return Error(node, absl::StrCat(Path(&path, resource).str(), ": expected a quantity"));
    }
    // A Quantity quotes its field in its errors only, so the field is named
    // only when there is an error to report: parsing is deterministic, and
    // the second round fails exactly as the first did.
    for (const bool named : {false, true}) {
      const std::string field = named ? Path(&path, resource).str() : std::string();
      absl::StatusOr<Quantity> q = Quantity::Parse(Text(node), field);
      if (!q.ok()) {
        if (named) return Error(node, q.status().message());
        continue;
      }
      absl::StatusOr<int64_t> value = cpu ? q->Milli() : q->Units();
      if (!value.ok()) {
        if (named) return Error(node, value.status().message());
        continue;
      }
      return std::optional<int64_t>(*value);
    }
    return absl::InternalError("quantity parsed differently twice");  // not reached
  }

  absl::Status ParseContainer(const Node* node, const Path& path, ContainerSpec& c) {
    if (absl::Status s = ExpectMap(node, path); !s.ok()) return s;
    if (const Node* name = Find(node, "name"); name != nullptr) {
      if (!IsString(name)) {
        return Error(name, absl::StrCat(Path(&path, "name").str(), ": expected a string"));
      }
      c.name = std::string(Text(name));
    }
    if (absl::Status s = ParseVolumeMounts(Find(node, "volumeMounts"), Path(&path, "volumeMounts"),
                                           c.volume_mounts);
        !s.ok()) {
      return s;
    }
    if (const Node* tpath = Find(node, "terminationMessagePath"); !IsAbsentOrNull(tpath)) {
      absl::StatusOr<std::string> value =
          ScalarString(tpath, Path(&path, "terminationMessagePath"));
      if (!value.ok()) return value.status();
      c.termination_message_path = *std::move(value);
    }
    const Node* resources = Find(node, "resources");
    if (IsAbsentOrNull(resources)) return absl::OkStatus();
    const Path rpath(&path, "resources");
    if (absl::Status s = ExpectMap(resources, rpath); !s.ok()) return s;
    struct Slot {
      absl::string_view section;
      absl::string_view resource;
      bool cpu;
      std::optional<int64_t>* out;
    } slots[] = {
        {"requests", "cpu", true, &c.cpu_request_milli},
        {"limits", "cpu", true, &c.cpu_limit_milli},
        {"requests", "memory", false, &c.memory_request_bytes},
        {"limits", "memory", false, &c.memory_limit_bytes},
    };
    for (const Slot& slot : slots) {
      const Node* section = Find(resources, slot.section);
      if (IsAbsentOrNull(section)) continue;
      const Path spath(&rpath, slot.section);
      if (absl::Status s = ExpectMap(section, spath); !s.ok()) return s;
      absl::StatusOr<std::optional<int64_t>> value =
          ResourceValue(section, slot.resource, spath, slot.cpu);
      if (!value.ok()) return value.status();
      *slot.out = *value;
    }
    return absl::OkStatus();
  }

  // "true" / "false" (YAML 1.1's other spellings of booleans are refused:
  // the API server reads JSON booleans).
  absl::StatusOr<bool> Boolean(const Node* node, const Path& path) const {
    if (IsString(node) && node->plain) {
      if (Text(node) == "true") return true;
      if (Text(node) == "false") return false;
    }
    return Error(node, absl::StrCat(path.str(), ": expected true or false, got \"",
                                    node->type == NodeType::kScalar ? Text(node) : "", "\""));
  }

  // A required string field of mapping `node`.
  absl::StatusOr<std::string> RequiredString(const Node* node, const Path& path,
                                             absl::string_view key) {
    const Node* value = Find(node, key);
    if (IsAbsentOrNull(value))
      return Error(node, absl::StrCat(Path(&path, key).str(), ": missing"));
    return ScalarString(value, Path(&path, key));
  }

  // Calls parse(item, item_path, i) for every item of the list at `node`.
  template <typename ParseItem>
  absl::Status ForEachItem(const Node* node, const Path& path, ParseItem parse) {
    if (IsAbsentOrNull(node)) return absl::OkStatus();
    if (node->type != NodeType::kSequence) {
      return Error(node, absl::StrCat(path.str(), ": expected a list"));
    }
    const yaml::NodeId* items = tree_.begin(*node);
    for (size_t i = 0; i < node->size && !over_budget_; ++i) {
      const Path item_path(&path, i);
      if (absl::Status s = ExpectMap(Get(items[i]), item_path); !s.ok()) return s;
      if (absl::Status s = parse(Get(items[i]), item_path); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status ParseVolumeMounts(const Node* node, const Path& path,
                                 std::vector<VolumeMountSpec>& out) {
    return ForEachItem(node, path, [&](const Node* item, const Path& ipath) -> absl::Status {
      VolumeMountSpec m;
      absl::StatusOr<std::string> name = RequiredString(item, ipath, "name");
      if (!name.ok()) return name.status();
      absl::StatusOr<std::string> mount_path = RequiredString(item, ipath, "mountPath");
      if (!mount_path.ok()) return mount_path.status();
      m.name = *std::move(name);
      m.mount_path = *std::move(mount_path);
      if (const Node* sub = Find(item, "subPath"); !IsAbsentOrNull(sub)) {
        absl::StatusOr<std::string> value = ScalarString(sub, Path(&ipath, "subPath"));
        if (!value.ok()) return value.status();
        m.sub_path = *std::move(value);
      }
      if (const Node* ro = Find(item, "readOnly"); !IsAbsentOrNull(ro)) {
        absl::StatusOr<bool> value = Boolean(ro, Path(&ipath, "readOnly"));
        if (!value.ok()) return value.status();
        m.read_only = *value;
      }
      out.push_back(std::move(m));
      return absl::OkStatus();
    });
  }

  // spec.volumes: each item's name and the one key that is its source.
  absl::Status ParseVolumes(const Node* node, const Path& path, std::vector<VolumeSpec>& out) {
    return ForEachItem(node, path, [&](const Node* item, const Path& ipath) -> absl::Status {
      VolumeSpec v;
      absl::StatusOr<std::string> name = RequiredString(item, ipath, "name");
      if (!name.ok()) return name.status();
      v.name = *std::move(name);
      const yaml::NodeId* end = tree_.end(*item);
      for (const yaml::NodeId* entry = tree_.begin(*item); entry < end; entry += 2) {
        if (!Charge()) break;
        const Node* key = Get(entry[0]);
        if (!IsString(key) || Text(key) == "name") continue;
        v.source = std::string(Text(key));
        if (v.source == "hostPath") {
          const Node* source = Get(entry[1]);
          const Path spath(&ipath, "hostPath");
          if (absl::Status s = ExpectMap(source, spath); !s.ok()) return s;
          absl::StatusOr<std::string> host = RequiredString(source, spath, "path");
          if (!host.ok()) return host.status();
          v.host_path = *std::move(host);
        }
        break;
      }
      if (v.source.empty()) {
        return Error(item, absl::StrCat(ipath.str(), ": volume \"", v.name, "\" has no source"));
      }
      for (const VolumeSpec& seen : out) {
        if (seen.name == v.name) {
          return Error(item, absl::StrCat(ipath.str(), ".name: \"", v.name, "\" is used twice"));
        }
      }
      out.push_back(std::move(v));
      return absl::OkStatus();
    });
  }

  // Every volumeMount names a volume of the pod (the API server refuses a
  // pod otherwise).
  absl::Status CheckMountsNameVolumes(const Node* spec, const Path& path, const PodManifest& pod) {
    const std::pair<const std::vector<ContainerSpec>*, absl::string_view> lists[] = {
        {&pod.containers, "containers"}, {&pod.init_containers, "initContainers"}};
    for (const auto& [containers, key] : lists) {
      for (size_t i = 0; i < containers->size(); ++i) {
        const std::vector<VolumeMountSpec>& mounts = (*containers)[i].volume_mounts;
        for (size_t j = 0; j < mounts.size(); ++j) {
          bool found = false;
          for (const VolumeSpec& v : pod.volumes) found = found || v.name == mounts[j].name;
          if (found) continue;
          const Path cpath(&path, key);
          const Path ipath(&cpath, i);
          const Path mpath(&ipath, "volumeMounts");
          const Path jpath(&mpath, j);
          return Error(spec, absl::StrCat(Path(&jpath, "name").str(), ": no volume \"",
                                          mounts[j].name, "\" in ", path.str(), ".volumes"));
        }
      }
    }
    return absl::OkStatus();
  }

  absl::Status ParseContainers(const Node* node, const Path& path,
                               std::vector<ContainerSpec>& out) {
    if (IsAbsentOrNull(node)) return absl::OkStatus();
    if (node->type != NodeType::kSequence) {
      return Error(node, absl::StrCat(path.str(), ": expected a list"));
    }
    const yaml::NodeId* items = tree_.begin(*node);
    const size_t count = node->size;
    out.reserve(count);
    for (size_t i = 0; i < count && !over_budget_; ++i) {
      ContainerSpec c;
      if (absl::Status s = ParseContainer(Get(items[i]), Path(&path, i), c); !s.ok()) return s;
      out.push_back(std::move(c));
    }
    return absl::OkStatus();
  }

  // Fills `pod` from a metadata mapping; fields already set are kept, so a pod
  // template's own metadata wins over its workload's.
  absl::Status MergeMetadata(const Node* node, const Path& path, PodManifest& pod) {
    if (IsAbsentOrNull(node)) return absl::OkStatus();
    if (absl::Status s = ExpectMap(node, path); !s.ok()) return s;
    struct Field {
      absl::string_view key;
      std::string* out;
    } fields[] = {{"name", &pod.name}, {"namespace", &pod.namespace_name}, {"uid", &pod.uid}};
    for (const Field& f : fields) {
      if (!f.out->empty()) continue;
      const Node* value = Find(node, f.key);
      if (value == nullptr) continue;
      if (!IsString(value)) {
        return Error(value, absl::StrCat(Path(&path, f.key).str(), ": expected a string"));
      }
      f.out->assign(Text(value).data(), Text(value).size());
    }
    struct Map {
      absl::string_view key;
      std::map<std::string, std::string>* out;
    } maps[] = {{"labels", &pod.labels}, {"annotations", &pod.annotations}};
    for (const Map& m : maps) {
      if (absl::Status s = MergeStringMap(Find(node, m.key), Path(&path, m.key), *m.out); !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }

  absl::Status ParsePodSpec(const Node* spec, const Path& path, PodManifest& pod) {
    if (spec == nullptr) return absl::InvalidArgumentError(absl::StrCat(path.str(), ": missing"));
    if (absl::Status s = ExpectMap(spec, path); !s.ok()) return s;
    const Path cpath(&path, "containers");
    if (absl::Status s = ParseContainers(Find(spec, "containers"), cpath, pod.containers);
        !s.ok()) {
      return s;
    }
    if (pod.containers.empty()) {
      return Error(spec, absl::StrCat(cpath.str(), ": a pod needs at least one container"));
    }
    if (absl::Status s = ParseContainers(Find(spec, "initContainers"),
                                         Path(&path, "initContainers"), pod.init_containers);
        !s.ok()) {
      return s;
    }

    if (absl::Status s = ParseVolumes(Find(spec, "volumes"), Path(&path, "volumes"), pod.volumes);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckMountsNameVolumes(spec, path, pod); !s.ok()) return s;
    if (const Node* automount = Find(spec, "automountServiceAccountToken");
        !IsAbsentOrNull(automount)) {
      absl::StatusOr<bool> value = Boolean(automount, Path(&path, "automountServiceAccountToken"));
      if (!value.ok()) return value.status();
      pod.automount_service_account_token = *value;
    }

    const Node* overhead = Find(spec, "overhead");
    if (!IsAbsentOrNull(overhead)) {
      const Path opath(&path, "overhead");
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

  absl::StatusOr<PodManifest> ParseDocument(const Node* doc) {
    if (absl::Status s = ExpectMap(doc, Path(nullptr, "document")); !s.ok()) return s;
    const Node* kind_node = Find(doc, "kind");
    if (kind_node == nullptr || !IsString(kind_node)) {
      return Error(doc,
                   "kind: missing (expected Pod, Deployment, StatefulSet, DaemonSet, "
                   "ReplicaSet, Job or CronJob)");
    }
    const absl::string_view kind = Text(kind_node);
    const TemplatePath* where = nullptr;
    for (const TemplatePath& t : kTemplatePaths) {
      if (kind == t.kind) where = &t;
    }
    if (where == nullptr) {
      return Error(kind_node, absl::StrCat("kind: \"", kind,
                                           "\" holds no pod (expected Pod, Deployment, "
                                           "StatefulSet, DaemonSet, ReplicaSet, Job or CronJob)"));
    }
    PodManifest pod;
    pod.source_kind = std::string(kind);
    const Node* pod_node = doc;
    // The steps to the pod template; steps[i] lies under steps[i - 1].
    std::optional<Path> steps[4];
    const Path* pod_path = nullptr;  // none for a Pod: its fields are at the top
    for (int i = 0; i < where->depth; ++i) {
      steps[i].emplace(pod_path, where->keys[i]);
      pod_path = &*steps[i];
      const Node* next = Find(pod_node, where->keys[i]);
      if (next == nullptr || next->type != NodeType::kMapping) {
        return Error(pod_node,
                     absl::StrCat(pod_path->str(), ": missing or not a mapping in ", kind));
      }
      pod_node = next;
    }
    if (absl::Status s = MergeMetadata(Find(pod_node, "metadata"), Path(pod_path, "metadata"), pod);
        !s.ok()) {
      return s;
    }
    if (where->depth > 0) {
      // A template's pods take the workload's name and namespace.
      if (absl::Status s = MergeMetadata(Find(doc, "metadata"), Path(nullptr, "metadata"), pod);
          !s.ok()) {
        return s;
      }
    }
    if (pod.namespace_name.empty()) pod.namespace_name = "default";
    if (pod.name.empty()) return Error(doc, "metadata.name: missing");
    if (absl::Status s = ParsePodSpec(Find(pod_node, "spec"), Path(pod_path, "spec"), pod);
        !s.ok()) {
      return s;
    }
    return pod;
  }

  const yaml::Tree& tree_;
  const Node* root_;
  size_t budget_;  // mapping entries left to look at
  bool over_budget_ = false;
};

}  // namespace

absl::StatusOr<std::vector<PodManifest>> ParsePodManifests(absl::string_view yaml) {
  // Every document is composed up front, so a syntax error anywhere in the
  // stream is reported before any document is interpreted.
  yaml::Tree tree;
  if (absl::Status s = tree.Build(yaml); !s.ok()) return s;
  std::vector<PodManifest> pods;
  for (const yaml::Tree::Document& doc : tree.documents()) {
    DocumentParser parser(tree, doc);
    if (parser.IsNull(parser.Root())) continue;  // empty document between "---" separators
    absl::StatusOr<PodManifest> pod = parser.Parse();
    if (!pod.ok()) return pod.status();
    pods.push_back(*std::move(pod));
  }
  if (pods.empty()) return absl::InvalidArgumentError("no pod found in the input");
  return pods;
}

}  // namespace vmmap
