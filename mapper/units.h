// Human-readable renderings of CPU and memory amounts for messages.
#ifndef VMMAP_MAPPER_UNITS_H_
#define VMMAP_MAPPER_UNITS_H_

#include <cstdint>
#include <string>

namespace vmmap {

// "1500m"
std::string FormatMilli(int64_t milli_cpu);
// "536870912 bytes (512Mi)"; the binary suffix only when exact.
std::string FormatBytes(int64_t bytes);

}  // namespace vmmap

#endif  // VMMAP_MAPPER_UNITS_H_
