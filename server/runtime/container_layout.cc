#include "server/runtime/container_layout.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "mapper/domain_identity.h"
#include "mapper/shared_dirs.h"

namespace vmmap {
namespace {

absl::StatusOr<std::string> KernelArgs(const ContainerConfig& config) {
  std::vector<std::string> words = config.command;
  words.insert(words.end(), config.args.begin(), config.args.end());
  std::string joined = absl::StrJoin(words, " ");
  if (joined.size() > kMaxKernelCommandLine) {  // checked before the scan below
    return absl::InvalidArgumentError(
        absl::StrCat("container command and args: ", joined.size(),
                     " bytes exceed the kernel command line limit of ", kMaxKernelCommandLine));
  }
  for (char c : joined) {
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError(
          "container command and args: only printable ASCII may reach the kernel command line");
    }
  }
  return joined;
}

// The planned name is derived from the pod's identity, which two sandboxes
// can share (a retried RunPodSandbox, a pod re-created with the same uid and
// attempt). The domain is the container's: its name keeps the readable
// prefix and ends in a hash of the planned name and the container id, and
// its UUID is derived the same way, so no two containers ever share either.
void MakeUniqueToContainer(DomainSpec& spec, const std::string& container_id) {
  const std::string key = absl::StrCat(spec.name, "/", container_id);
  const size_t dash = spec.name.rfind('-');
  const std::string prefix = dash == std::string::npos ? spec.name : spec.name.substr(0, dash);
  spec.name = absl::StrCat(prefix, "-", absl::StrFormat("%012x", StableHash(key) >> 16));
  uint64_t hi = StableHash(key, 0x766d6d6170ULL);
  uint64_t lo = StableHash(key, 0x75756964ULL);
  hi = (hi & ~0xF000ULL) | 0x8000ULL;              // version 8
  lo = (lo & ~(0xC0ULL << 56)) | (0x80ULL << 56);  // RFC 4122 variant
  spec.uuid = absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32, (hi >> 16) & 0xFFFF,
                              hi & 0xFFFF, lo >> 48, lo & 0xFFFFFFFFFFFFULL);
}

}  // namespace

absl::StatusOr<ContainerLayout> LayOutContainerDomain(DomainSpec planned, const ImageRecord& image,
                                                      const ContainerConfig& config,
                                                      const ContainerPlacement& placement) {
  ContainerLayout layout;
  MakeUniqueToContainer(planned, placement.container_id);
  layout.console_path = absl::StrCat(placement.container_dir, "/console.log");
  planned.owner.sandbox_id = placement.sandbox_id;
  planned.owner.container_id = placement.container_id;
  planned.console_log_path = layout.console_path;
  if (image.kind == ImageKind::kKernelBundle) {
    absl::StatusOr<std::string> args = KernelArgs(config);
    if (!args.ok()) return args.status();
    std::string cmdline = image.cmdline.empty() ? "console=ttyS0" : image.cmdline;
    // The guest's mount instructions (docs/volumes.md), before the
    // container's own words so that they cannot be mistaken for its args.
    std::string mounts;
    for (const std::string& word : GuestMountArguments(planned.shared_dirs)) {
      absl::StrAppend(&mounts, " ", word);
    }
    cmdline += mounts;
    if (!args->empty()) absl::StrAppend(&cmdline, " ", *args);
    // The whole line counts, the image's own part included (x86 truncates
    // silently beyond COMMAND_LINE_SIZE).
    if (cmdline.size() > kMaxKernelCommandLine) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kernel command line: the image's ", image.cmdline.size(),
          " bytes plus the volume mounts' (", mounts.size(),
          " bytes) and the container's command and args (", args->size(), " bytes) make ",
          cmdline.size(), " bytes, over the x86 limit of ", kMaxKernelCommandLine));
    }
    planned.kernel_boot = DirectKernelBoot{image.kernel_path, image.initrd_path, cmdline};
  } else {
    layout.overlay_path = absl::StrCat(placement.container_dir, "/disk.qcow2");
    planned.disks.push_back(DiskSpec{layout.overlay_path, "qcow2", "vda"});
  }
  layout.spec = std::move(planned);
  return layout;
}

}  // namespace vmmap
