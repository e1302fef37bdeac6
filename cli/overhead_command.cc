#include "cli/overhead_command.h"

#include <algorithm>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/command_line.h"
#include "cli/node_flags.h"
#include "cli/read_input.h"
#include "mapper/kubelet_inputs.h"
#include "mapper/overhead_classes.h"
#include "mapper/planner.h"
#include "mapper/pod_manifest.h"
#include "mapper/quantity.h"
#include "mapper/shared_dirs.h"
#include "mapper/units.h"

namespace vmmap {
namespace {

void PrintUsage(std::ostream& out) {
  out << "usage: vmmap overhead [--vcpus N,...] [--memory Q,...] [--explain] [flags] [node flags] "
         "[FILE...]\n"
         "  Prints RuntimeClass manifests (node.k8s.io/v1) whose overhead.podFixed makes the\n"
         "  scheduler's sum (requests + podFixed) cover what vmmap's VMs take: hard_limit\n"
         "  (guest + VMM overhead) and the emulator threads' CPU. One class per vCPU count,\n"
         "  split by memory where one number cannot fit all sizes.\n"
         "  --vcpus LIST          vCPU counts the node will run, e.g. 1,2,4 [1]\n"
         "  --memory LIST         memory limits (guest sizes), e.g. 512Mi,1Gi,4Gi "
         "[--default-memory]\n"
         "  FILE...               or/and pod manifests: each pod's own shape (as `render` plans "
         "it)\n"
         "  --virtiofs-shares N   classes cover pods with up to N virtio-fs volumes (one "
         "virtiofsd\n"
         "                        each, charged to the pod; a kubelet pod has at least two:\n"
         "                        the service-account token and the share of its /etc/hosts\n"
         "                        and termination log) [2]\n"
         "  --tolerance Q         most memory a class may over-declare for a smaller size [16Mi]\n"
         "  --name-prefix NAME    class names are NAME-<N>vcpu[-<memory>] [vmmap]\n"
         "  --handler NAME        the CRI runtime handler kubelet is configured with [vmmap]\n"
         "  --node-selector K=V   scheduling: only nodes labelled K=V, tolerating their taint "
         "K=V:NoSchedule [none]\n"
         "  --explain             print each term of each class's overhead (to stderr)\n"
      << NodeFlagsHelp();
}

int Usage(const std::string& message) {
  std::cerr << "vmmap overhead: " << message << "\n";
  PrintUsage(std::cerr);
  return kExitUsage;
}

struct OverheadOptions {
  std::vector<int> vcpus;
  std::vector<int64_t> memory_bytes;
  std::vector<std::string> files;
  int64_t tolerance_bytes = 16 * kMiB;
  std::string prefix = "vmmap";
  std::string handler = "vmmap";
  std::string node_selector_key;
  std::string node_selector_value;
  bool explain = false;
  // Every kubelet pod has two: its service-account token, and the share of
  // its /etc/hosts and termination log (mapper/kubelet_inputs.h).
  int virtiofs_shares = 2;
  NodeConfig node;
};

absl::Status ParseVcpuList(const std::string& value, std::vector<int>& out) {
  for (absl::string_view item : absl::StrSplit(value, ',')) {
    int n = 0;
    if (!absl::SimpleAtoi(item, &n) || n < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--vcpus=\"", value, "\": \"", item, "\" is not a whole number ≥ 1"));
    }
    out.push_back(n);
  }
  return absl::OkStatus();
}

absl::Status ParseMemoryList(const std::string& value, std::vector<int64_t>& out) {
  for (absl::string_view item : absl::StrSplit(value, ',')) {
    absl::StatusOr<Quantity> q = Quantity::Parse(item, "--memory");
    if (!q.ok()) return q.status();
    absl::StatusOr<int64_t> bytes = q->Units();
    if (!bytes.ok()) return bytes.status();
    out.push_back(*bytes / kMiB * kMiB);  // QEMU sizes RAM in whole MiB, as PlanMemory does
  }
  return absl::OkStatus();
}

// A DNS label (RFC 1123): the form of the handler and of label values here.
bool IsDnsLabel(absl::string_view s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

// A label key: optional DNS-subdomain prefix and '/', then a name of
// letters, digits, '-', '_', '.'. Strict, so the value can go into YAML unquoted.
bool IsLabelKey(absl::string_view key) {
  if (key.empty() || key.size() > 316) return false;
  for (char c : key) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_' || c == '.' || c == '/')) {
      return false;
    }
  }
  return key.front() != '/' && key.back() != '/';
}

absl::Status ParseOption(const CommandArg& arg, OverheadOptions& o) {
  if (arg.flag == "--vcpus") return ParseVcpuList(arg.value, o.vcpus);
  if (arg.flag == "--memory") return ParseMemoryList(arg.value, o.memory_bytes);
  if (arg.flag == "--virtiofs-shares") {
    int n = -1;
    if (!absl::SimpleAtoi(arg.value, &n) || n < 0 || n > static_cast<int>(kMaxSharedDirectories)) {
      return absl::InvalidArgumentError(absl::StrCat("--virtiofs-shares=\"", arg.value,
                                                     "\": expected a whole number in [0, ",
                                                     kMaxSharedDirectories, "]"));
    }
    o.virtiofs_shares = n;
    return absl::OkStatus();
  }
  if (arg.flag == "--tolerance") {
    absl::StatusOr<Quantity> q = Quantity::Parse(arg.value, "--tolerance");
    if (!q.ok()) return q.status();
    absl::StatusOr<int64_t> bytes = q->Units();
    if (!bytes.ok()) return bytes.status();
    o.tolerance_bytes = *bytes;
    return absl::OkStatus();
  }
  if (arg.flag == "--name-prefix") {
    o.prefix = arg.value;  // checked by PlanRuntimeClasses
    return absl::OkStatus();
  }
  if (arg.flag == "--handler") {
    if (!IsDnsLabel(arg.value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--handler=\"", arg.value, "\": expected a DNS label (lowercase letters, digits, '-')"));
    }
    o.handler = arg.value;
    return absl::OkStatus();
  }
  if (arg.flag == "--node-selector") {
    const size_t eq = arg.value.find('=');
    if (eq == std::string::npos || !IsLabelKey(arg.value.substr(0, eq)) ||
        !IsDnsLabel(arg.value.substr(eq + 1))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--node-selector=\"", arg.value, "\": expected KEY=VALUE, a label key and a DNS label"));
    }
    o.node_selector_key = arg.value.substr(0, eq);
    o.node_selector_value = arg.value.substr(eq + 1);
    return absl::OkStatus();
  }
  bool consumed = false;
  if (absl::Status s = ParseNodeFlag(arg.flag, arg.value, o.node, &consumed); !s.ok()) return s;
  if (!consumed) return absl::InvalidArgumentError(absl::StrCat("unknown flag ", arg.flag));
  return absl::OkStatus();
}

// The shape of every pod in `path`, as `vmmap render` would plan it.
absl::Status AddPodShapes(const std::string& path, const NodeConfig& node,
                          std::vector<VmShape>& shapes) {
  absl::StatusOr<std::string> yaml = ReadInput(path);
  if (!yaml.ok()) return yaml.status();
  absl::StatusOr<std::vector<PodManifest>> pods = ParsePodManifests(*yaml);
  if (!pods.ok())
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", pods.status().message()));
  for (const PodManifest& pod : *pods) {
    absl::StatusOr<DomainPlan> plan = PlanDomain(SandboxInputFor(pod, node.cgroup_driver), node);
    if (!plan.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", pod.source_kind, " ",
                                                     pod.namespace_name, "/", pod.name, ": ",
                                                     plan.status().message()));
    }
    int virtiofs_shares = 0;
    for (const SharedDirectory& share : plan->spec.shared_dirs) {
      if (share.driver == SharedFsDriver::kVirtiofs) ++virtiofs_shares;
    }
    shapes.push_back({plan->spec.vcpus, plan->spec.memory_kib * 1024, virtiofs_shares});
  }
  return absl::OkStatus();
}

// "512Mi", "8Gi", "99328Ki": the largest exact binary unit.
std::string Size(int64_t bytes) {
  if (bytes % kGiB == 0) return absl::StrCat(bytes / kGiB, "Gi");
  if (bytes % kMiB == 0) return absl::StrCat(bytes / kMiB, "Mi");
  return absl::StrCat(bytes / 1024, "Ki");
}

std::string ClassYaml(const RuntimeClassPlan& c, const OverheadOptions& o) {
  std::vector<std::string> sized_for;
  for (const OverheadNeed& need : c.shapes) {
    sized_for.push_back(absl::StrCat(Size(need.shape.guest_bytes), " → ", Size(need.memory_bytes)));
  }
  std::string yaml = absl::StrCat(
      "---\n# ", c.name, ": pods with at most ", c.max_vcpus, c.max_vcpus == 1 ? " vCPU" : " vCPUs",
      " and a memory limit of at most ", Size(c.max_guest_bytes), ".\n# VMM memory needed at ",
      c.max_vcpus, " vCPU(s), guest → overhead: ", absl::StrJoin(sized_for, ", "), "\n",
      "apiVersion: node.k8s.io/v1\n"
      "kind: RuntimeClass\n"
      "metadata:\n"
      "  name: ",
      c.name,
      "\n"
      "  labels:\n"
      "    app.kubernetes.io/managed-by: vmmap-overhead\n"
      "handler: ",
      o.handler,
      "\n"
      "overhead:\n"
      "  podFixed:\n"
      "    cpu: ",
      c.cpu_milli,
      "m\n"
      "    memory: ",
      c.memory_mib, "Mi\n");
  if (!o.node_selector_key.empty()) {
    // vmmap nodes run every pod as a VM, so they are tainted with the same
    // key=value (docs/deploy.md); the class's pods tolerate it.
    absl::StrAppend(&yaml, "scheduling:\n  nodeSelector:\n    ", o.node_selector_key, ": \"",
                    o.node_selector_value, "\"\n  tolerations:\n  - key: ", o.node_selector_key,
                    "\n    operator: Equal\n    value: \"", o.node_selector_value,
                    "\"\n    effect: NoSchedule\n");
  }
  return yaml;
}

void PrintExplanation(const RuntimeClassPlan& c) {
  std::cerr << "# " << c.name << ": podFixed memory " << c.memory_mib
            << "Mi = the largest need below,"
            << " rounded up to Mi; cpu " << c.cpu_milli << "m\n";
  for (const OverheadNeed& need : c.shapes) {
    std::cerr << "  shape " << need.shape.vcpus << " vCPUs, guest " << need.shape.guest_bytes / kMiB
              << "Mi:\n";
    for (const Derivation& t : need.terms) {
      std::cerr << "    " << t.target << ": " << t.input << " | " << t.rule << " | " << t.value
                << "\n";
    }
  }
}

}  // namespace

int RunOverheadCommand(const std::vector<std::string>& args) {
  OverheadOptions o;
  absl::StatusOr<std::vector<CommandArg>> parsed = SplitCommandLine(args, {"--explain"});
  if (!parsed.ok()) return Usage(std::string(parsed.status().message()));
  for (const CommandArg& arg : *parsed) {
    if (arg.flag == "--help") {
      PrintUsage(std::cout);
      return kExitOk;
    } else if (arg.flag == "--explain") {
      o.explain = true;
    } else if (arg.flag.empty()) {
      o.files.push_back(arg.value);
    } else if (absl::Status s = ParseOption(arg, o); !s.ok()) {
      return Usage(std::string(s.message()));
    }
  }
  if (o.vcpus.empty() && o.memory_bytes.empty() && o.files.empty()) {
    return Usage("give --vcpus and/or --memory, or pod manifest files");
  }

  std::vector<VmShape> shapes;
  if (!o.vcpus.empty() || !o.memory_bytes.empty()) {
    if (o.vcpus.empty()) o.vcpus.push_back(1);
    if (o.memory_bytes.empty()) o.memory_bytes.push_back(o.node.default_guest_memory_bytes);
    for (int vcpus : o.vcpus) {
      for (int64_t memory : o.memory_bytes) shapes.push_back({vcpus, memory});
    }
  }
  for (const std::string& file : o.files) {
    if (absl::Status s = AddPodShapes(file, o.node, shapes); !s.ok()) {
      std::cerr << "vmmap overhead: " << s.message() << "\n";
      return kExitBadInput;
    }
  }
  // A manifest's pod brings its own shares (kubelet's included); no class
  // covers fewer than --virtiofs-shares.
  for (VmShape& shape : shapes) {
    shape.virtiofs_shares = std::max(shape.virtiofs_shares, o.virtiofs_shares);
  }
  absl::StatusOr<std::vector<RuntimeClassPlan>> classes =
      PlanRuntimeClasses(o.node, shapes, o.tolerance_bytes, o.prefix);
  if (!classes.ok()) {
    std::cerr << "vmmap overhead: " << classes.status().message() << "\n";
    return kExitBadInput;
  }

  std::cout
      << "# RuntimeClasses for vmmap (" << DomainTypeName(o.node.domain_type)
      << " domains), generated by:\n#   vmmap overhead " << absl::StrJoin(args, " ")
      << "\n# overhead.podFixed.memory covers hard_limit − guest (the VMM's memory, locked with\n"
         "# the guest), overhead.podFixed.cpu the emulator threads' slice, so requests +\n"
         "# podFixed is what the VM takes when requests = limits. Use the first class that\n"
         "# covers the pod's vCPUs and memory limit.\n";
  for (const RuntimeClassPlan& c : *classes) {
    std::cout << ClassYaml(c, o);
    if (o.explain) PrintExplanation(c);
  }
  return kExitOk;
}

}  // namespace vmmap
