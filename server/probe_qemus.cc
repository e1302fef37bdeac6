#include "server/probe_qemus.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;

// libvirt's directory for the probes' sockets and pid files: its libDir
// (<root>/lib/qemu for the embedded driver, root taken as given).
std::string ProbeParent(const std::string& embed_root) {
  return absl::StrCat(embed_root, "/lib/qemu");
}

// "unix:<root>/lib/qemu/qmp-<dir>/qmp.monitor", maybe followed by ",options".
bool IsProbeMonitor(absl::string_view arg, const std::string& embed_root) {
  if (!absl::ConsumePrefix(&arg, "unix:") ||
      !absl::ConsumePrefix(&arg, absl::StrCat(ProbeParent(embed_root), "/qmp-"))) {
    return false;
  }
  const size_t slash = arg.find('/');
  if (slash == 0 || slash == absl::string_view::npos) return false;
  arg.remove_prefix(slash);
  return absl::ConsumePrefix(&arg, "/qmp.monitor") && (arg.empty() || arg[0] == ',');
}

}  // namespace

bool IsProbeQemuOf(const std::vector<std::string>& argv, const std::string& embed_root) {
  bool machine_none = false;
  bool our_monitor = false;
  for (size_t i = 1; i + 1 < argv.size(); ++i) {
    const std::string& value = argv[i + 1];
    if (argv[i] == "-machine") machine_none = value == "none" || absl::StartsWith(value, "none,");
    if (argv[i] == "-qmp") our_monitor = IsProbeMonitor(value, embed_root);
  }
  return machine_none && our_monitor;
}

KillOutcome KillProbeQemus(const std::string& embed_root, std::chrono::milliseconds deadline) {
  KillOutcome outcome = KillProcesses(
      [&embed_root](const std::vector<std::string>& argv) {
        return IsProbeQemuOf(argv, embed_root);
      },
      deadline);
  if (!outcome.left.empty()) return outcome;
  // libvirt removes a probe's directory when it stops the probe; one whose
  // libvirt was killed first keeps its socket and pid file forever.
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(ProbeParent(embed_root), ec)) {
    if (absl::StartsWith(entry.path().filename().string(), "qmp-") &&
        entry.symlink_status(ec).type() == fs::file_type::directory) {
      fs::remove_all(entry.path(), ec);
    }
  }
  return outcome;
}

}  // namespace vmmap
