#include "cli/render_command.h"

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "mapper/domain_xml.h"
#include "mapper/kubelet_inputs.h"
#include "mapper/planner.h"
#include "mapper/pod_manifest.h"
#include "cli/command_line.h"
#include "cli/node_flags.h"
#include "cli/read_input.h"

namespace vmmap {
namespace {

void PrintUsage(std::ostream& out) {
  out << "usage: vmmap render [--explain] [--output DIR] [--no-kubelet-mounts] [node flags] "
         "FILE|-\n"
         "  Prints the libvirt domain XML for each pod in FILE (a Pod, or the pod template of a\n"
         "  Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or CronJob; '-' reads stdin).\n"
         "  Each pod's volumeMounts, its service-account token and kubelet's /etc/hosts and\n"
         "  termination log are shared into the VM as kubelet would send them (host paths\n"
         "  under /var/lib/kubelet/pods/<uid>).\n"
         "  --explain            print how every value was derived (to stderr)\n"
         "  --output DIR         write one <domain-name>.xml per pod into DIR instead of stdout\n"
         "  --no-kubelet-mounts  plan the pod without any volume (CPU and memory only)\n"
      << NodeFlagsHelp();
}

struct RenderOptions {
  bool explain = false;
  bool kubelet_mounts = true;
  std::string output_dir;
  std::string input;
  NodeConfig node;
};

int Usage(const std::string& message) {
  std::cerr << "vmmap render: " << message << "\n";
  PrintUsage(std::cerr);
  return kExitUsage;
}

}  // namespace

int RunRenderCommand(const std::vector<std::string>& args) {
  RenderOptions options;
  absl::StatusOr<std::vector<CommandArg>> parsed =
      SplitCommandLine(args, {"--explain", "--no-kubelet-mounts"});
  if (!parsed.ok()) return Usage(std::string(parsed.status().message()));
  for (const CommandArg& arg : *parsed) {
    if (arg.flag == "--help") {
      PrintUsage(std::cout);
      return kExitOk;
    } else if (arg.flag == "--explain") {
      options.explain = true;
    } else if (arg.flag == "--no-kubelet-mounts") {
      options.kubelet_mounts = false;
    } else if (arg.flag == "--output") {
      options.output_dir = arg.value;
    } else if (arg.flag.empty()) {
      if (!options.input.empty()) return Usage("more than one input file");
      options.input = arg.value;
    } else {
      bool consumed = false;
      absl::Status s = ParseNodeFlag(arg.flag, arg.value, options.node, &consumed);
      if (!s.ok()) return Usage(std::string(s.message()));
      if (!consumed) return Usage(absl::StrCat("unknown flag ", arg.flag));
    }
  }
  if (options.input.empty()) return Usage("no input file (use - for stdin)");

  absl::StatusOr<std::string> yaml = ReadInput(options.input);
  if (!yaml.ok()) {
    std::cerr << "vmmap render: " << yaml.status().message() << "\n";
    return kExitBadInput;
  }
  const std::string source = options.input == "-" ? "<stdin>" : options.input;
  absl::StatusOr<std::vector<PodManifest>> pods = ParsePodManifests(*yaml);
  if (!pods.ok()) {
    std::cerr << "vmmap render: " << source << ": " << pods.status().message() << "\n";
    return kExitBadInput;
  }
  if (!options.output_dir.empty()) ::mkdir(options.output_dir.c_str(), 0755);

  // Plan everything first: a bad pod anywhere in the file writes nothing.
  std::vector<std::pair<DomainPlan, std::string>> rendered;
  for (const PodManifest& pod : *pods) {
    const std::string who = absl::StrCat(pod.source_kind, " ", pod.namespace_name, "/", pod.name);
    PodSandboxInput input = SandboxInputFor(pod, options.node.cgroup_driver);
    if (!options.kubelet_mounts) input.mounts.clear();
    absl::StatusOr<DomainPlan> plan = PlanDomain(input, options.node);
    if (plan.ok()) {
      // The files share's directory is made by `vmmap serve` per container
      // (server/volumes/share_views.h); offline, its default place.
      for (SharedDirectory& share : plan->spec.shared_dirs) {
        if (share.source_dir.empty()) {
          share.source_dir = "/var/lib/vmmap/volumes/CONTAINER_ID/files";
        }
      }
    }
    if (!plan.ok()) {
      std::cerr << "vmmap render: " << source << ": " << who << ": " << plan.status().message()
                << "\n";
      return kExitBadInput;
    }
    absl::StatusOr<std::string> xml = RenderDomainXml(plan->spec);
    if (!xml.ok()) {
      std::cerr << "vmmap render: " << who << ": " << xml.status().message() << "\n";
      return kExitBadInput;
    }
    if (options.explain) {
      std::cerr << "# " << who << " -> " << plan->spec.name << "\n" << plan->explanation.ToText();
    } else {
      for (const std::string& w : plan->explanation.warnings) {
        std::cerr << "vmmap render: " << who << ": warning: " << w << "\n";
      }
    }
    rendered.emplace_back(std::move(*plan), std::move(*xml));
  }
  for (const auto& [plan, xml] : rendered) {
    if (options.output_dir.empty()) {
      std::cout << xml;
      continue;
    }
    const std::string path = absl::StrCat(options.output_dir, "/", plan.spec.name, ".xml");
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << xml;
    if (!out) {
      std::cerr << "vmmap render: " << path << ": cannot write\n";
      return kExitBadInput;
    }
    std::cerr << "wrote " << path << "\n";
  }
  return kExitOk;
}

}  // namespace vmmap
