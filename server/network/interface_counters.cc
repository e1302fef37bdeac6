#include "server/network/interface_counters.h"

#include "server/network/link_attributes.h"

namespace vmmap::network {

absl::StatusOr<InterfaceCounters> ReadInterfaceCounters(const std::string& netns_path,
                                                        const std::string& ifname) {
  absl::StatusOr<LinkAttributes> link = ReadLinkAttributes(netns_path, ifname);
  if (!link.ok()) return link.status();
  return InterfaceCounters{ifname,           link->rx_bytes,   link->rx_packets,
                           link->rx_errors,  link->rx_dropped, link->tx_bytes,
                           link->tx_packets, link->tx_errors,  link->tx_dropped};
}

}  // namespace vmmap::network
