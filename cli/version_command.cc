#include "cli/version_command.h"

#include <libvirt/libvirt.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/command_line.h"
#include "cli/node_findings.h"
#include "cli/node_probes.h"
#include "vmmap_build_info.h"

namespace vmmap {
namespace {

void PrintUsage(std::ostream& out) {
  out << "usage: vmmap version [--emulator PATH] [--libvirt-uri URI]\n"
         "  Prints vmmap's version and commit, the CRI API it serves, the libvirt library and\n"
         "  the QEMU it finds (PATH's qemu-system-x86_64 unless --emulator), and with\n"
         "  --libvirt-uri what that connection reports.\n";
}

std::string LibvirtLibraryVersion() {
  unsigned long v = 0;
  if (virGetVersion(&v, nullptr, nullptr) < 0) return "unknown";
  return absl::StrCat(v / 1000000, ".", v / 1000 % 1000, ".", v % 1000);
}

}  // namespace

int RunVersionCommand(const std::vector<std::string>& args) {
  std::string emulator;
  std::string uri;
  absl::StatusOr<std::vector<CommandArg>> parsed = SplitCommandLine(args, {});
  if (!parsed.ok()) {
    std::cerr << "vmmap version: " << parsed.status().message() << "\n";
    return kExitUsage;
  }
  for (const CommandArg& arg : *parsed) {
    if (arg.flag == "--help") {
      PrintUsage(std::cout);
      return kExitOk;
    } else if (arg.flag == "--emulator") {
      emulator = arg.value;
    } else if (arg.flag == "--libvirt-uri") {
      uri = arg.value;
    } else {
      std::cerr << "vmmap version: unexpected argument "
                << (arg.flag.empty() ? arg.value : arg.flag) << "\n";
      PrintUsage(std::cerr);
      return kExitUsage;
    }
  }
  std::cout << "vmmap " << VMMAP_VERSION << "\n"
            << "commit: " << VMMAP_GIT_COMMIT << "\n"
            << "CRI: runtime.v1 (Version answers version 0.1.0, runtime_api_version v1)\n"
            << "libvirt library: " << LibvirtLibraryVersion() << "\n";
  if (emulator.empty()) {
    Finding found = FindTool("qemu", {"qemu-system-x86_64"}, "qemu-system-x86", true);
    emulator = found.status == FindingStatus::kOk ? found.detail : "";
  }
  if (emulator.empty()) {
    std::cout << "QEMU: not found (qemu-system-x86_64 is not in PATH)\n";
  } else {
    absl::StatusOr<std::string> line = CommandFirstLine({emulator, "--version"}, 30);
    std::cout << "QEMU: " << (line.ok() ? *line : std::string(line.status().message())) << " ("
              << emulator << ")\n";
  }
  if (!uri.empty()) {
    const Finding f = RunIsolated("libvirt", 60, [&uri] { return ProbeLibvirt(uri); });
    std::cout << "libvirt connection: " << f.detail << "\n";
  }
  return kExitOk;
}

}  // namespace vmmap
