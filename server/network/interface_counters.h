// Traffic counters of a pod's interface, read inside its network namespace.
// The VM's tap lives there after AttachTap, so libvirt (which reads
// /proc/net/dev of its own namespace) cannot see it: pod network stats come
// from here. eth0 counts exactly the pod's traffic: every frame to or from
// the guest passes through it (tc redirect), nothing else does.
#ifndef VMMAP_SERVER_NETWORK_INTERFACE_COUNTERS_H_
#define VMMAP_SERVER_NETWORK_INTERFACE_COUNTERS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace vmmap::network {

struct InterfaceCounters {
  std::string name;
  uint64_t rx_bytes = 0;
  uint64_t rx_packets = 0;
  uint64_t rx_errors = 0;
  uint64_t rx_dropped = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_errors = 0;
  uint64_t tx_dropped = 0;
};

absl::StatusOr<InterfaceCounters> ReadInterfaceCounters(const std::string& netns_path,
                                                        const std::string& ifname);

}  // namespace vmmap::network

#endif  // VMMAP_SERVER_NETWORK_INTERFACE_COUNTERS_H_
