// Linux cpuset lists ("0-3,6"), as kubelet's static CPU manager sends them.
#ifndef VMMAP_MAPPER_CPUSET_H_
#define VMMAP_MAPPER_CPUSET_H_

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"

namespace vmmap {

// The CPUs in `list`, ascending and without duplicates. `field` is quoted in errors.
absl::StatusOr<std::vector<int>> ParseCpuset(absl::string_view list, absl::string_view field);

// The canonical list form of `cpus` ("0-3,6").
std::string FormatCpuset(const std::vector<int>& cpus);

}  // namespace vmmap

#endif  // VMMAP_MAPPER_CPUSET_H_
