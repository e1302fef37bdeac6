#include "server/cri/legacy_state_decoder.h"

#include "absl/strings/str_cat.h"
#include "server/cri/cri_convert.h"

namespace vmmap {
namespace {

template <typename Message>
absl::Status Parse(absl::string_view bytes, Message* out) {
  if (out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("not a serialized ", out->GetTypeName(), " (", bytes.size(), " bytes)"));
}

}  // namespace

absl::StatusOr<SandboxConfig> CriLegacyRowDecoder::DecodeSandboxConfig(
    absl::string_view bytes) const {
  runtime::v1::PodSandboxConfig config;
  if (absl::Status s = Parse(bytes, &config); !s.ok()) return s;
  return FromCri(config, "");
}

absl::StatusOr<ContainerConfig> CriLegacyRowDecoder::DecodeContainerConfig(
    absl::string_view bytes) const {
  runtime::v1::ContainerConfig config;
  if (absl::Status s = Parse(bytes, &config); !s.ok()) return s;
  return FromCri(config);
}

absl::StatusOr<LinuxResources> CriLegacyRowDecoder::DecodeResources(absl::string_view bytes) const {
  runtime::v1::LinuxContainerResources resources;
  if (absl::Status s = Parse(bytes, &resources); !s.ok()) return s;
  return FromCri(resources);
}

}  // namespace vmmap
