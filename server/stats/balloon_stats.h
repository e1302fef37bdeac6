// The guest's own memory figures from libvirt's BALLOON stat group (keys in
// KiB, faults as counts). Pure.
#ifndef VMMAP_SERVER_STATS_BALLOON_STATS_H_
#define VMMAP_SERVER_STATS_BALLOON_STATS_H_

#include <cstdint>

#include "server/stats/stats_records.h"
#include "server/virt/hypervisor.h"

namespace vmmap {

GuestMemoryStats GuestMemoryFromBalloon(const virt::DomainStats& stats, int64_t timestamp_ns);

}  // namespace vmmap

#endif  // VMMAP_SERVER_STATS_BALLOON_STATS_H_
