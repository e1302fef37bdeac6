// Decodes rows of the unversioned state layout (serialized runtime.v1
// protos) for StateStore's one-time migration: the state store never links
// the CRI proto, so the decoder lives at the CRI edge.
#ifndef VMMAP_SERVER_CRI_LEGACY_STATE_DECODER_H_
#define VMMAP_SERVER_CRI_LEGACY_STATE_DECODER_H_

#include "server/state/legacy_rows.h"

namespace vmmap {

class CriLegacyRowDecoder final : public LegacyRowDecoder {
 public:
  absl::StatusOr<SandboxConfig> DecodeSandboxConfig(absl::string_view bytes) const override;
  absl::StatusOr<ContainerConfig> DecodeContainerConfig(absl::string_view bytes) const override;
  absl::StatusOr<LinuxResources> DecodeResources(absl::string_view bytes) const override;
};

}  // namespace vmmap

#endif  // VMMAP_SERVER_CRI_LEGACY_STATE_DECODER_H_
