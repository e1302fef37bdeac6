// Identifiers and clocks for CRI objects.
#ifndef VMMAP_SERVER_RUNTIME_IDS_H_
#define VMMAP_SERVER_RUNTIME_IDS_H_

#include <cstdint>
#include <string>

namespace vmmap {

// 64 lowercase hex digits from the OS's random source, like containerd's ids.
std::string NewObjectId();

// Wall-clock nanoseconds since the epoch (CRI timestamps).
int64_t NowNanos();

}  // namespace vmmap

#endif  // VMMAP_SERVER_RUNTIME_IDS_H_
