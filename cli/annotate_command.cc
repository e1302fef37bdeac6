#include "cli/annotate_command.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/annotate_edit.h"
#include "cli/command_line.h"
#include "cli/node_flags.h"
#include "cli/read_input.h"
#include "mapper/annotations.h"
#include "mapper/kubelet_inputs.h"
#include "mapper/planner.h"
#include "mapper/pod_manifest.h"
#include "mapper/units.h"

namespace vmmap {
namespace {

void PrintUsage(std::ostream& out) {
  out << "usage: vmmap annotate [--vcpus N [--in-place]] [node flags] FILE|-\n"
         "  With --vcpus: sets the annotation vmmap.io/vcpus: \"N\" on every pod in FILE (a Pod,\n"
         "  or the pod template of a workload), editing only that line: the rest of the YAML\n"
         "  stays byte for byte. Prints the result, or rewrites FILE with --in-place.\n"
         "  Without --vcpus: suggests a count for each pod from its limits and says why.\n"
      << NodeFlagsHelp();
}

int Usage(const std::string& message) {
  std::cerr << "vmmap annotate: " << message << "\n";
  PrintUsage(std::cerr);
  return kExitUsage;
}

std::string Who(const PodManifest& pod) {
  return absl::StrCat(pod.source_kind, " ", pod.namespace_name, "/", pod.name);
}

// What vmmap derives without the annotation, and why; the suggestion.
std::string Suggestion(const PodManifest& pod, const NodeConfig& node) {
  PodManifest bare = pod;
  bare.annotations.erase(kVcpusAnnotation);
  bare.annotations.erase(kVirtletVcpusAnnotation);
  const PodSandboxInput input = SandboxInputFor(bare, node.cgroup_driver);
  absl::StatusOr<DomainPlan> plan = PlanDomain(input, node);
  if (!plan.ok()) return absl::StrCat(Who(pod), ": cannot plan: ", plan.status().message());
  const int vcpus = plan->spec.vcpus;
  const LinuxResources& limits = EffectiveLimits(input);
  std::string why;
  if (!limits.HasCpuLimit()) {
    why =
        "the pod has no CPU limit, so its VM gets 1 vCPU and no CFS ceiling (shares only); "
        "set resources.limits.cpu to size it";
  } else {
    const int64_t milli =
        limits.cpu_quota_us * 1000 / (limits.cpu_period_us > 0 ? limits.cpu_period_us : 100000);
    why = absl::StrCat(
        "CPU limit ", FormatMilli(milli), " → ceil = ", vcpus, " vCPU", vcpus == 1 ? "" : "s",
        ": the fewest vCPUs that can use the whole limit (one vCPU runs on at most one CPU)");
    if (plan->spec.cputune.quota_us) {
      absl::StrAppend(&why, "; each vCPU gets ", *plan->spec.cputune.quota_us, " µs per ",
                      *plan->spec.cputune.period_us, " µs after the emulator's share");
    }
    if (milli % 1000 != 0) {
      absl::StrAppend(&why, "; the limit is fractional, so the vCPUs share ", FormatMilli(milli),
                      " and are throttled when all are busy");
    }
  }
  std::string current;
  if (auto it = pod.annotations.find(kVcpusAnnotation); it != pod.annotations.end()) {
    current = absl::StrCat(" (now ", kVcpusAnnotation, "=", QuoteValue(it->second), ")");
  }
  return absl::StrCat(Who(pod), ": suggest --vcpus ", vcpus, current, ": ", why);
}

// Writes `text` over `path` through a temporary file in the same directory,
// keeping the file's mode.
absl::Status WriteInPlace(const std::string& path, const std::string& text) {
  struct stat st = {};
  if (stat(path.c_str(), &st) != 0) return absl::NotFoundError(absl::StrCat(path, ": cannot stat"));
  const std::string temp = absl::StrCat(path, ".vmmap-annotate.tmp");
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) {
      std::remove(temp.c_str());
      return absl::UnavailableError(absl::StrCat(temp, ": cannot write"));
    }
  }
  if (chmod(temp.c_str(), st.st_mode & 07777) != 0 || rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    return absl::UnavailableError(absl::StrCat(path, ": cannot replace"));
  }
  return absl::OkStatus();
}

}  // namespace

int RunAnnotateCommand(const std::vector<std::string>& args) {
  NodeConfig node;
  std::string input;
  std::string vcpus_text;
  bool in_place = false;
  absl::StatusOr<std::vector<CommandArg>> parsed = SplitCommandLine(args, {"--in-place"});
  if (!parsed.ok()) return Usage(std::string(parsed.status().message()));
  for (const CommandArg& arg : *parsed) {
    if (arg.flag == "--help") {
      PrintUsage(std::cout);
      return kExitOk;
    } else if (arg.flag == "--vcpus") {
      vcpus_text = arg.value;
    } else if (arg.flag == "--in-place") {
      in_place = true;
    } else if (arg.flag.empty()) {
      if (!input.empty()) return Usage("more than one input file");
      input = arg.value;
    } else {
      bool consumed = false;
      absl::Status s = ParseNodeFlag(arg.flag, arg.value, node, &consumed);
      if (!s.ok()) return Usage(std::string(s.message()));
      if (!consumed) return Usage(absl::StrCat("unknown flag ", arg.flag));
    }
  }
  if (input.empty()) return Usage("no input file (use - for stdin)");
  if (in_place && (vcpus_text.empty() || input == "-"))
    return Usage("--in-place needs --vcpus and a FILE");
  int vcpus = 0;
  if (!vcpus_text.empty() &&
      (!absl::SimpleAtoi(vcpus_text, &vcpus) || vcpus < 1 || vcpus > node.max_vcpus)) {
    return Usage(absl::StrCat("--vcpus=\"", vcpus_text, "\": expected a whole number in [1, ",
                              node.max_vcpus, "] (--max-vcpus)"));
  }

  absl::StatusOr<std::string> yaml = ReadInput(input);
  if (!yaml.ok()) {
    std::cerr << "vmmap annotate: " << yaml.status().message() << "\n";
    return kExitBadInput;
  }
  const std::string source = input == "-" ? "<stdin>" : input;
  absl::StatusOr<std::vector<PodManifest>> pods = ParsePodManifests(*yaml);
  if (!pods.ok()) {
    std::cerr << "vmmap annotate: " << source << ": " << pods.status().message() << "\n";
    return kExitBadInput;
  }
  if (vcpus_text.empty()) {
    for (const PodManifest& pod : *pods) std::cout << Suggestion(pod, node) << "\n";
    return kExitOk;
  }
  for (const PodManifest& pod : *pods) {
    auto virtlet = pod.annotations.find(kVirtletVcpusAnnotation);
    if (virtlet != pod.annotations.end() && virtlet->second != vcpus_text) {
      std::cerr << "vmmap annotate: " << source << ": " << Who(pod) << ": annotation "
                << kVirtletVcpusAnnotation << "=" << QuoteValue(virtlet->second)
                << " disagrees with --vcpus " << vcpus
                << "; vmmap requires both to agree: change or remove it\n";
      return kExitBadInput;
    }
  }
  absl::StatusOr<std::string> edited =
      SetPodAnnotation(*yaml, kVcpusAnnotation, absl::StrCat(vcpus));
  if (!edited.ok()) {
    std::cerr << "vmmap annotate: " << source << ": " << edited.status().message() << "\n";
    return kExitBadInput;
  }
  // The edit must mean what it says: every pod now asks for exactly N.
  absl::StatusOr<std::vector<PodManifest>> again = ParsePodManifests(*edited);
  if (!again.ok() || again->size() != pods->size()) {
    std::cerr << "vmmap annotate: internal error: the edited YAML no longer parses as the same pods"
              << (again.ok() ? "" : absl::StrCat(": ", again.status().message())) << "\n";
    return kExitBadInput;
  }
  for (const PodManifest& pod : *again) {
    absl::StatusOr<std::optional<int>> got = RequestedVcpus(pod.annotations, node.max_vcpus);
    if (!got.ok() || !got->has_value() || **got != vcpus) {
      std::cerr << "vmmap annotate: internal error: " << Who(pod) << " does not ask for " << vcpus
                << " vCPUs after the edit\n";
      return kExitBadInput;
    }
  }
  if (in_place) {
    if (absl::Status s = WriteInPlace(input, *edited); !s.ok()) {
      std::cerr << "vmmap annotate: " << s.message() << "\n";
      return kExitBadInput;
    }
    std::cerr << "vmmap annotate: " << input << ": " << pods->size() << " pod(s) set to " << vcpus
              << " vCPUs\n";
    return kExitOk;
  }
  std::cout << *edited;
  return kExitOk;
}

}  // namespace vmmap
