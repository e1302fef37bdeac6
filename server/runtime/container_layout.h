// Where a container's domain keeps its parts: a PURE function (no I/O) from
// the planned domain, the image and the container's config to the domain
// spec and the container's paths.
#ifndef VMMAP_SERVER_RUNTIME_CONTAINER_LAYOUT_H_
#define VMMAP_SERVER_RUNTIME_CONTAINER_LAYOUT_H_

#include <string>

#include "absl/status/statusor.h"
#include "mapper/domain_spec.h"
#include "server/images/image_store.h"
#include "server/state/records.h"

namespace vmmap {

// Longest kernel command line vmmap writes (x86's COMMAND_LINE_SIZE).
inline constexpr size_t kMaxKernelCommandLine = 2048;

struct ContainerLayout {
  DomainSpec spec;
  std::string overlay_path;  // empty for kernel bundles
  std::string console_path;
};

struct ContainerPlacement {
  std::string sandbox_id;
  std::string container_id;
  std::string container_dir;  // <state-dir>/containers/<id>
};

// The container's command and args become kernel arguments of a kernel
// bundle (printable ASCII only, because a pod author writes them and they
// reach the XML; InvalidArgument naming the field otherwise).
absl::StatusOr<ContainerLayout> LayOutContainerDomain(DomainSpec planned, const ImageRecord& image,
                                                      const ContainerConfig& config,
                                                      const ContainerPlacement& placement);

}  // namespace vmmap

#endif  // VMMAP_SERVER_RUNTIME_CONTAINER_LAYOUT_H_
