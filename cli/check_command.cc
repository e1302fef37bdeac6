#include "cli/check_command.h"

#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/command_line.h"
#include "cli/node_findings.h"
#include "cli/node_probes.h"
#include "mapper/quantity.h"

namespace vmmap {
namespace {

void PrintUsage(std::ostream& out) {
  out << "usage: vmmap check [flags]\n"
         "  Tells whether this node can run vmmap pods: each finding with its fix.\n"
         "  Exit 0 only when every required check passes.\n"
         "  --domain-type kvm|qemu  qemu (TCG) does not need KVM [kvm]\n"
         "  --libvirt-uri URI       the libvirt vmmap will use [qemu:///embed, on a scratch root]\n"
         "  --state-dir DIR         where vmmap keeps images and overlays [/var/lib/vmmap]\n"
         "  --min-free QUANTITY     least free space there [2Gi]\n"
         "  --cni-conf-dir DIR      [/etc/cni/net.d]\n"
         "  --cni-bin-dir DIRS      colon-separated [/opt/cni/bin:/usr/lib/cni]\n"
         "  --kvm-device PATH       [/dev/kvm]\n"
         "  --cgroup-root DIR       [/sys/fs/cgroup]\n"
         "  --timeout SECONDS       per KVM or libvirt probe, which can hang under nested virt "
         "[60]\n";
}

int Usage(const std::string& message) {
  std::cerr << "vmmap check: " << message << "\n";
  PrintUsage(std::cerr);
  return kExitUsage;
}

struct CheckOptions {
  bool kvm_required = true;
  std::string libvirt_uri = "qemu:///embed";
  std::string state_dir = "/var/lib/vmmap";
  int64_t min_free_bytes = int64_t{2} << 30;
  std::string cni_conf_dir = "/etc/cni/net.d";
  std::vector<std::string> cni_bin_dirs = {"/opt/cni/bin", "/usr/lib/cni"};
  std::string kvm_device = "/dev/kvm";
  std::string cgroup_root = "/sys/fs/cgroup";
  int timeout_s = 60;
};

absl::Status ParseOption(const CommandArg& arg, CheckOptions& o) {
  const std::string& v = arg.value;
  if (arg.flag == "--domain-type") {
    if (v != "kvm" && v != "qemu")
      return absl::InvalidArgumentError(
          absl::StrCat("--domain-type=\"", v, "\": expected kvm or qemu"));
    o.kvm_required = v == "kvm";
  } else if (arg.flag == "--libvirt-uri") {
    o.libvirt_uri = v;
  } else if (arg.flag == "--state-dir") {
    if (v.empty() || v[0] != '/')
      return absl::InvalidArgumentError(
          absl::StrCat("--state-dir=\"", v, "\": expected an absolute path"));
    o.state_dir = v;
  } else if (arg.flag == "--min-free") {
    absl::StatusOr<Quantity> q = Quantity::Parse(v, "--min-free");
    if (!q.ok()) return q.status();
    absl::StatusOr<int64_t> bytes = q->Units();
    if (!bytes.ok()) return bytes.status();
    o.min_free_bytes = *bytes;
  } else if (arg.flag == "--cni-conf-dir") {
    o.cni_conf_dir = v;
  } else if (arg.flag == "--cni-bin-dir") {
    o.cni_bin_dirs = absl::StrSplit(v, ':', absl::SkipEmpty());
  } else if (arg.flag == "--kvm-device") {
    o.kvm_device = v;
  } else if (arg.flag == "--cgroup-root") {
    o.cgroup_root = v;
  } else if (arg.flag == "--timeout") {
    if (!absl::SimpleAtoi(v, &o.timeout_s) || o.timeout_s < 1 || o.timeout_s > 3600) {
      return absl::InvalidArgumentError(
          absl::StrCat("--timeout=\"", v, "\": expected seconds in [1, 3600]"));
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown flag ", arg.flag));
  }
  return absl::OkStatus();
}

}  // namespace

int RunCheckCommand(const std::vector<std::string>& args) {
  CheckOptions o;
  absl::StatusOr<std::vector<CommandArg>> parsed = SplitCommandLine(args, {});
  if (!parsed.ok()) return Usage(std::string(parsed.status().message()));
  for (const CommandArg& arg : *parsed) {
    if (arg.flag == "--help") {
      PrintUsage(std::cout);
      return kExitOk;
    }
    if (arg.flag.empty()) return Usage(absl::StrCat("unexpected argument \"", arg.value, "\""));
    if (absl::Status s = ParseOption(arg, o); !s.ok()) return Usage(std::string(s.message()));
  }

  std::vector<Finding> findings;
  findings.push_back(
      RunIsolated("kvm", o.timeout_s, [&o] { return ProbeKvm(o.kvm_device, o.kvm_required); }));
  if (!o.kvm_required) findings.back().required = false;
  findings.push_back(
      RunIsolated("libvirt", o.timeout_s, [&o] { return ProbeLibvirt(o.libvirt_uri); }));
  findings.push_back(CheckCgroups(o.cgroup_root));
  findings.push_back(CheckMemlock());
  findings.push_back(CheckCni(o.cni_conf_dir, o.cni_bin_dirs));
  findings.push_back(FindTool("qemu-img", {"qemu-img"}, "qemu-utils", true));
  findings.push_back(
      FindTool("virtiofsd", {"/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd", "virtiofsd"},
               "virtiofsd or qemu-system-common (needed for volumes shared into VMs)", false));
  findings.push_back(CheckDiskSpace(o.state_dir, o.min_free_bytes));

  std::vector<std::string> failed;
  for (const Finding& f : findings) {
    std::cout << FindingLabel(f) << " " << f.name << ": " << f.detail
              << (f.required ? "" : " (optional)") << "\n";
    if (!f.fix.empty() && f.status != FindingStatus::kOk)
      std::cout << "     fix: " << f.fix << "\n";
    if (f.required && f.status == FindingStatus::kFail) failed.push_back(f.name);
  }
  if (NodeIsReady(findings)) {
    std::cout << "node is ready for vmmap pods\n";
    return kExitOk;
  }
  std::cout << "node is NOT ready: " << failed.size()
            << " required check(s) failed: " << absl::StrJoin(failed, ", ") << "\n";
  return 1;
}

}  // namespace vmmap
