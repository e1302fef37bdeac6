// Rows of the state database before schema version 1, whose `config` and
// `resources` columns held serialized runtime.v1 protos. The store cannot
// decode those (it never links the CRI proto); the caller that can passes a
// decoder to StateStore::Open, which migrates in one transaction.
#ifndef VMMAP_SERVER_STATE_LEGACY_ROWS_H_
#define VMMAP_SERVER_STATE_LEGACY_ROWS_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/state/records.h"

namespace vmmap {

class LegacyRowDecoder {
 public:
  virtual ~LegacyRowDecoder() = default;
  // A serialized runtime.v1.PodSandboxConfig; runtime_handler is not in it.
  virtual absl::StatusOr<SandboxConfig> DecodeSandboxConfig(absl::string_view bytes) const = 0;
  // A serialized runtime.v1.ContainerConfig (image_ref included).
  virtual absl::StatusOr<ContainerConfig> DecodeContainerConfig(absl::string_view bytes) const = 0;
  // A serialized runtime.v1.LinuxContainerResources.
  virtual absl::StatusOr<LinuxResources> DecodeResources(absl::string_view bytes) const = 0;
};

}  // namespace vmmap

#endif  // VMMAP_SERVER_STATE_LEGACY_ROWS_H_
