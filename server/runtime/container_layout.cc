#include "server/runtime/container_layout.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace vmmap {
namespace {

absl::StatusOr<std::string> KernelArgs(const ContainerConfig& config) {
  std::vector<std::string> words = config.command;
  words.insert(words.end(), config.args.begin(), config.args.end());
  std::string joined = absl::StrJoin(words, " ");
  if (joined.size() > kMaxKernelCommandLine) {
    return absl::InvalidArgumentError(absl::StrCat("container command and args: ", joined.size(),
                                                   " bytes exceed the kernel command line limit of ",
                                                   kMaxKernelCommandLine));
  }
  for (char c : joined) {
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError(
          "container command and args: only printable ASCII may reach the kernel command line");
    }
  }
  return joined;
}

}  // namespace

absl::StatusOr<ContainerLayout> LayOutContainerDomain(DomainSpec planned, const ImageRecord& image,
                                                      const ContainerConfig& config,
                                                      const ContainerPlacement& placement) {
  ContainerLayout layout;
  layout.console_path = absl::StrCat(placement.container_dir, "/console.log");
  planned.owner.sandbox_id = placement.sandbox_id;
  planned.owner.container_id = placement.container_id;
  planned.console_log_path = layout.console_path;
  if (image.kind == ImageKind::kKernelBundle) {
    absl::StatusOr<std::string> args = KernelArgs(config);
    if (!args.ok()) return args.status();
    std::string cmdline = image.cmdline.empty() ? "console=ttyS0" : image.cmdline;
    if (!args->empty()) absl::StrAppend(&cmdline, " ", *args);
    planned.kernel_boot = DirectKernelBoot{image.kernel_path, image.initrd_path, cmdline};
  } else {
    layout.overlay_path = absl::StrCat(placement.container_dir, "/disk.qcow2");
    planned.disks.push_back(DiskSpec{layout.overlay_path, "qcow2", "vda"});
  }
  layout.spec = std::move(planned);
  return layout;
}

}  // namespace vmmap
