// Pod annotations vmmap understands. Annotations are written by pod authors,
// who are not node admins: each value is parsed strictly and bounded, and an
// invalid one is an error that names the annotation, never a silent clamp.
#ifndef VMMAP_MAPPER_ANNOTATIONS_H_
#define VMMAP_MAPPER_ANNOTATIONS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace vmmap {

inline constexpr char kVcpusAnnotation[] = "vmmap.io/vcpus";
inline constexpr char kVirtletVcpusAnnotation[] = "VirtletVCPUCount";  // Virtlet compatibility
inline constexpr char kEmulatorCpuAnnotation[] = "vmmap.io/emulator-cpu";

using Annotations = std::map<std::string, std::string>;

// The vCPU count the pod asks for, if any: a decimal integer in [1, max_vcpus].
// When both annotations are present they must agree.
absl::StatusOr<std::optional<int>> RequestedVcpus(const Annotations& annotations, int max_vcpus);

// The emulator threads' CPU in millicores, if the pod asks: "150" or "150m",
// within [min_milli, max_milli].
absl::StatusOr<std::optional<int64_t>> RequestedEmulatorMilli(const Annotations& annotations,
                                                              int64_t min_milli, int64_t max_milli);

// An annotation value made safe to quote in a message: escaped and bounded.
std::string QuoteValue(const std::string& value);

}  // namespace vmmap

#endif  // VMMAP_MAPPER_ANNOTATIONS_H_
