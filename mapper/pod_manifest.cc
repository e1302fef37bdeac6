#include "mapper/pod_manifest.h"

#include <yaml.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "mapper/quantity.h"

namespace vmmap {
namespace {

// ---------------------------------------------------------------------------
// libyaml plumbing: RAII owners, loading, and malformed-YAML errors.

struct DocumentDeleter {
  void operator()(yaml_document_t* doc) const {
    yaml_document_delete(doc);  // safe on a zeroed document (a failed load leaves one)
    delete doc;
  }
};
using Document = std::unique_ptr<yaml_document_t, DocumentDeleter>;

// Owns a yaml_parser_t reading `text`, which must outlive it.
class Parser {
 public:
  explicit Parser(absl::string_view text) {
    initialized_ = yaml_parser_initialize(&parser_) != 0;  // fails only when out of memory
    if (!initialized_) return;
    // libyaml asserts on a null input pointer, which an empty string_view may hold.
    const char* data = text.empty() ? "" : text.data();
    yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(data),
                                 text.size());
  }
  ~Parser() { yaml_parser_delete(&parser_); }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  bool initialized() const { return initialized_; }
  yaml_parser_t* get() { return &parser_; }

 private:
  yaml_parser_t parser_{};
  bool initialized_ = false;
};

std::string Where(const yaml_mark_t& mark) {
  return absl::StrCat("line ", mark.line + 1, ", column ", mark.column + 1, ": ");
}

// The 0-based line and column of byte `offset` in `text`, counting columns in
// characters as libyaml's own marks do.
yaml_mark_t MarkAt(absl::string_view text, size_t offset) {
  yaml_mark_t mark{};
  mark.index = offset;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++mark.line;
      mark.column = 0;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {  // not a continuation byte
      ++mark.column;
    }
  }
  return mark;
}

absl::Status MalformedYaml(const yaml_parser_t& parser, absl::string_view text) {
  if (parser.error == YAML_MEMORY_ERROR) {
    return absl::ResourceExhaustedError("out of memory while parsing YAML");
  }
  // Reader errors (bad encoding, control characters) carry a byte offset
  // instead of a mark.
  const yaml_mark_t mark = parser.error == YAML_READER_ERROR
                               ? MarkAt(text, parser.problem_offset)
                               : parser.problem_mark;
  return absl::InvalidArgumentError(absl::StrCat(
      Where(mark), "malformed YAML: ", parser.problem != nullptr ? parser.problem : "unknown error"));
}

// libyaml's scanner revisits every open flow collection ("[" or "{") on each
// token, so nesting d deep costs O(d × tokens): 20,000 levels take seconds.
// Manifests nest flow collections a few levels at most.
constexpr int kMaxFlowDepth = 64;

// Rejects input nesting flow collections deeper than kMaxFlowDepth before the
// (unguarded) load sees it.
absl::Status CheckFlowDepth(absl::string_view text) {
  // Nesting cannot exceed the number of brackets, so the usual manifest is
  // cleared by one pass over its bytes; only bracket-heavy input (JSON, say)
  // pays for the event pass below, which stops at the first level too deep.
  if (std::count_if(text.begin(), text.end(), [](char c) { return c == '[' || c == '{'; }) <=
      kMaxFlowDepth) {
    return absl::OkStatus();
  }
  Parser parser(text);
  if (!parser.initialized()) return MalformedYaml(*parser.get(), text);
  int depth = 0;  // open flow collections; a flow collection holds only flow ones
  while (true) {
    yaml_event_t event;
    if (yaml_parser_parse(parser.get(), &event) == 0) return MalformedYaml(*parser.get(), text);
    const yaml_event_type_t type = event.type;
    const yaml_mark_t mark = event.start_mark;
    const bool flow_start =
        (type == YAML_SEQUENCE_START_EVENT &&
         event.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE) ||
        (type == YAML_MAPPING_START_EVENT &&
         event.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE);
    yaml_event_delete(&event);
    if (flow_start && ++depth > kMaxFlowDepth) {
      return absl::InvalidArgumentError(absl::StrCat(
          Where(mark), "flow collections nested more than ", kMaxFlowDepth, " levels deep"));
    }
    if (depth > 0 && (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT)) --depth;
    if (type == YAML_STREAM_END_EVENT) return absl::OkStatus();
  }
}

// Loads every document up front, so a syntax error anywhere in the stream is
// reported before any document is interpreted.
absl::StatusOr<std::vector<Document>> LoadAll(absl::string_view text) {
  if (absl::Status s = CheckFlowDepth(text); !s.ok()) return s;
  Parser parser(text);
  // Loading from an uninitialised parser trips libyaml's assertions.
  if (!parser.initialized()) return MalformedYaml(*parser.get(), text);
  std::vector<Document> docs;
  while (true) {
    Document doc(new yaml_document_t{});
    if (yaml_parser_load(parser.get(), doc.get()) == 0) return MalformedYaml(*parser.get(), text);
    // A document without a root node is libyaml's end-of-stream marker; an
    // empty document between "---" separators has a root (an empty scalar).
    if (yaml_document_get_root_node(doc.get()) == nullptr) return docs;
    docs.push_back(std::move(doc));
  }
}

// ---------------------------------------------------------------------------
// Node helpers. Every scalar is text: YAML 1.1 booleans, numbers and the like
// mean nothing special for the fields read here.

absl::string_view Text(const yaml_node_t* node) {
  return absl::string_view(reinterpret_cast<const char*>(node->data.scalar.value),
                           node->data.scalar.length);
}

// `key:` with no value, `~` and `null` mean "not set", as they did under
// yaml-cpp: a plain scalar spelled like the core schema's null. Quoted "null"
// is a string.
bool IsNull(const yaml_node_t* node) {
  if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
    return false;
  }
  const absl::string_view text = Text(node);
  return text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL";
}

bool IsAbsentOrNull(const yaml_node_t* node) { return node == nullptr || IsNull(node); }

bool IsString(const yaml_node_t* node) { return node->type == YAML_SCALAR_NODE && !IsNull(node); }

absl::Status Error(const yaml_node_t* node, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(Where(node->start_mark), message));
}

absl::Status ExpectMap(const yaml_node_t* node, const std::string& path) {
  if (node->type == YAML_MAPPING_NODE) return absl::OkStatus();
  return Error(node, absl::StrCat(path, ": expected a mapping"));
}

absl::StatusOr<std::string> ScalarString(const yaml_node_t* node, const std::string& path) {
  if (!IsString(node)) return Error(node, absl::StrCat(path, ": expected a string"));
  return std::string(Text(node));
}

// ---------------------------------------------------------------------------
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
  explicit DocumentParser(yaml_document_t* doc)
      : doc_(doc),
        budget_(kScansPerByte * (doc->end_mark.index - doc->start_mark.index) + kMinBudget) {}

  const yaml_node_t* Root() const { return yaml_document_get_root_node(doc_); }

  absl::StatusOr<PodManifest> Parse() {
    absl::StatusOr<PodManifest> pod = ParseDocument(Root());
    if (over_budget_) {
      return Error(Root(), "document too expensive to read (aliases repeat too much of it)");
    }
    return pod;
  }

 private:
  static constexpr size_t kScansPerByte = 16;
  static constexpr size_t kMinBudget = 4096;

  const yaml_node_t* Node(yaml_node_item_t id) const { return yaml_document_get_node(doc_, id); }

  // Charges one mapping entry; false once the budget is spent.
  bool Charge() {
    if (budget_ == 0) over_budget_ = true;
    if (over_budget_) return false;
    --budget_;
    return true;
  }

  // The value under `key` in `map` (a mapping), or nullptr when absent. The
  // first match wins, as under yaml-cpp.
  const yaml_node_t* Find(const yaml_node_t* map, absl::string_view key) {
    for (const yaml_node_pair_t* pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; ++pair) {
      if (!Charge()) return nullptr;
      const yaml_node_t* k = Node(pair->key);
      if (k->type == YAML_SCALAR_NODE && Text(k) == key) return Node(pair->value);
    }
    return nullptr;
  }

  absl::StatusOr<std::map<std::string, std::string>> StringMap(const yaml_node_t* node,
                                                               const std::string& path) {
    std::map<std::string, std::string> out;
    if (IsAbsentOrNull(node)) return out;
    if (absl::Status s = ExpectMap(node, path); !s.ok()) return s;
    for (const yaml_node_pair_t* pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; ++pair) {
      if (!Charge()) break;
      // A key that is not text (null, a list) reads as "", as under yaml-cpp.
      const yaml_node_t* k = Node(pair->key);
      const std::string key = IsString(k) ? std::string(Text(k)) : std::string();
      absl::StatusOr<std::string> value =
          ScalarString(Node(pair->value), absl::StrCat(path, ".", key));
      if (!value.ok()) return value.status();
      out[key] = *std::move(value);  // a repeated key: the last one wins
    }
    return out;
  }

  // Parses one resource quantity at `path`; `cpu` selects millicores over bytes.
  absl::StatusOr<std::optional<int64_t>> ResourceValue(const yaml_node_t* resources,
                                                       const char* resource,
                                                       const std::string& path, bool cpu) {
    const yaml_node_t* node = Find(resources, resource);
    if (IsAbsentOrNull(node)) return std::optional<int64_t>();
    const std::string field = absl::StrCat(path, ".", resource);
    if (node->type != YAML_SCALAR_NODE) {
      return Error(node, absl::StrCat(field, ": expected a quantity"));
    }
    absl::StatusOr<Quantity> q = Quantity::Parse(Text(node), field);
    if (!q.ok()) return Error(node, q.status().message());
    absl::StatusOr<int64_t> value = cpu ? q->Milli() : q->Units();
    if (!value.ok()) return Error(node, value.status().message());
    return std::optional<int64_t>(*value);
  }

  absl::StatusOr<ContainerSpec> ParseContainer(const yaml_node_t* node, const std::string& path) {
    if (absl::Status s = ExpectMap(node, path); !s.ok()) return s;
    ContainerSpec c;
    if (const yaml_node_t* name = Find(node, "name"); name != nullptr) {
      absl::StatusOr<std::string> text = ScalarString(name, path + ".name");
      if (!text.ok()) return text.status();
      c.name = *std::move(text);
    }
    const yaml_node_t* resources = Find(node, "resources");
    if (IsAbsentOrNull(resources)) return c;
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
      const yaml_node_t* section = Find(resources, slot.section);
      if (IsAbsentOrNull(section)) continue;
      const std::string spath = absl::StrCat(rpath, ".", slot.section);
      if (absl::Status s = ExpectMap(section, spath); !s.ok()) return s;
      absl::StatusOr<std::optional<int64_t>> value =
          ResourceValue(section, slot.resource, spath, slot.cpu);
      if (!value.ok()) return value.status();
      *slot.out = *value;
    }
    return c;
  }

  absl::StatusOr<std::vector<ContainerSpec>> ParseContainers(const yaml_node_t* node,
                                                             const std::string& path) {
    std::vector<ContainerSpec> out;
    if (IsAbsentOrNull(node)) return out;
    if (node->type != YAML_SEQUENCE_NODE) {
      return Error(node, absl::StrCat(path, ": expected a list"));
    }
    const yaml_node_item_t* items = node->data.sequence.items.start;
    const size_t count = node->data.sequence.items.top - items;
    for (size_t i = 0; i < count && !over_budget_; ++i) {
      absl::StatusOr<ContainerSpec> c =
          ParseContainer(Node(items[i]), absl::StrCat(path, "[", i, "]"));
      if (!c.ok()) return c.status();
      out.push_back(*std::move(c));
    }
    return out;
  }

  // Fills `pod` from a metadata mapping; fields already set are kept, so a pod
  // template's own metadata wins over its workload's.
  absl::Status MergeMetadata(const yaml_node_t* node, const std::string& path, PodManifest& pod) {
    if (IsAbsentOrNull(node)) return absl::OkStatus();
    if (absl::Status s = ExpectMap(node, path); !s.ok()) return s;
    struct Field {
      const char* key;
      std::string* out;
    } fields[] = {{"name", &pod.name}, {"namespace", &pod.namespace_name}, {"uid", &pod.uid}};
    for (const Field& f : fields) {
      if (!f.out->empty()) continue;
      const yaml_node_t* value = Find(node, f.key);
      if (value == nullptr) continue;
      absl::StatusOr<std::string> v = ScalarString(value, absl::StrCat(path, ".", f.key));
      if (!v.ok()) return v.status();
      *f.out = *std::move(v);
    }
    struct Map {
      const char* key;
      std::map<std::string, std::string>* out;
    } maps[] = {{"labels", &pod.labels}, {"annotations", &pod.annotations}};
    for (const Map& m : maps) {
      absl::StatusOr<std::map<std::string, std::string>> entries =
          StringMap(Find(node, m.key), absl::StrCat(path, ".", m.key));
      if (!entries.ok()) return entries.status();
      m.out->insert(entries->begin(), entries->end());  // insert keeps existing keys
    }
    return absl::OkStatus();
  }

  absl::Status ParsePodSpec(const yaml_node_t* spec, const std::string& path, PodManifest& pod) {
    if (spec == nullptr) return absl::InvalidArgumentError(absl::StrCat(path, ": missing"));
    if (absl::Status s = ExpectMap(spec, path); !s.ok()) return s;
    absl::StatusOr<std::vector<ContainerSpec>> containers =
        ParseContainers(Find(spec, "containers"), path + ".containers");
    if (!containers.ok()) return containers.status();
    if (containers->empty()) {
      return Error(spec, absl::StrCat(path, ".containers: a pod needs at least one container"));
    }
    pod.containers = *std::move(containers);
    absl::StatusOr<std::vector<ContainerSpec>> init =
        ParseContainers(Find(spec, "initContainers"), path + ".initContainers");
    if (!init.ok()) return init.status();
    pod.init_containers = *std::move(init);

    const yaml_node_t* overhead = Find(spec, "overhead");
    if (!IsAbsentOrNull(overhead)) {
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

  absl::StatusOr<PodManifest> ParseDocument(const yaml_node_t* doc) {
    if (absl::Status s = ExpectMap(doc, "document"); !s.ok()) return s;
    const yaml_node_t* kind_node = Find(doc, "kind");
    if (kind_node == nullptr || !IsString(kind_node)) {
      return Error(doc, "kind: missing (expected Pod, Deployment, StatefulSet, DaemonSet, "
                        "ReplicaSet, Job or CronJob)");
    }
    const absl::string_view kind = Text(kind_node);
    const TemplatePath* where = nullptr;
    for (const TemplatePath& t : TemplatePaths()) {
      if (kind == t.kind) where = &t;
    }
    if (where == nullptr) {
      return Error(kind_node, absl::StrCat("kind: \"", kind,
                                           "\" holds no pod (expected Pod, Deployment, "
                                           "StatefulSet, DaemonSet, ReplicaSet, Job or CronJob)"));
    }
    PodManifest pod;
    pod.source_kind = std::string(kind);
    const yaml_node_t* pod_node = doc;
    std::string path;
    for (const char* key : where->keys) {
      path = path.empty() ? key : absl::StrCat(path, ".", key);
      const yaml_node_t* next = Find(pod_node, key);
      if (next == nullptr || next->type != YAML_MAPPING_NODE) {
        return Error(pod_node, absl::StrCat(path, ": missing or not a mapping in ", kind));
      }
      pod_node = next;
    }
    const std::string prefix = path.empty() ? "" : path + ".";
    if (absl::Status s = MergeMetadata(Find(pod_node, "metadata"), prefix + "metadata", pod);
        !s.ok()) {
      return s;
    }
    if (!where->keys.empty()) {
      // A template's pods take the workload's name and namespace.
      if (absl::Status s = MergeMetadata(Find(doc, "metadata"), "metadata", pod); !s.ok()) {
        return s;
      }
    }
    if (pod.namespace_name.empty()) pod.namespace_name = "default";
    if (pod.name.empty()) return Error(doc, "metadata.name: missing");
    if (absl::Status s = ParsePodSpec(Find(pod_node, "spec"), prefix + "spec", pod); !s.ok()) {
      return s;
    }
    return pod;
  }

  yaml_document_t* doc_;  // yaml_document_get_node takes a non-const pointer
  size_t budget_;         // mapping entries left to look at
  bool over_budget_ = false;
};

}  // namespace

absl::StatusOr<std::vector<PodManifest>> ParsePodManifests(absl::string_view yaml) {
  absl::StatusOr<std::vector<Document>> docs = LoadAll(yaml);
  if (!docs.ok()) return docs.status();
  std::vector<PodManifest> pods;
  for (const Document& doc : *docs) {
    DocumentParser parser(doc.get());
    if (IsNull(parser.Root())) continue;  // empty document between "---" separators
    absl::StatusOr<PodManifest> pod = parser.Parse();
    if (!pod.ok()) return pod.status();
    pods.push_back(*std::move(pod));
  }
  if (pods.empty()) return absl::InvalidArgumentError("no pod found in the input");
  return pods;
}

}  // namespace vmmap
