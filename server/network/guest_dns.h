// The pod's DNS as the guest gets it, checked once for every way it reaches
// the guest (vmmap.dns= on a kernel command line, a NoCloud seed).
#ifndef VMMAP_SERVER_NETWORK_GUEST_DNS_H_
#define VMMAP_SERVER_NETWORK_GUEST_DNS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace vmmap::network {

// Bounds: glibc reads 3 nameservers; Kubernetes allows 32 search domains
// (validation.MaxDNSSearchPaths); options are few in practice.
inline constexpr size_t kMaxGuestNameservers = 3;
inline constexpr size_t kMaxGuestSearches = 32;
inline constexpr size_t kMaxGuestDnsOptions = 16;

struct GuestDns {
  std::vector<std::string> nameservers;  // IP literals
  std::vector<std::string> searches;     // host names (one trailing dot allowed)
  std::vector<std::string> options;      // resolv.conf options, e.g. "ndots:5"
};

// InvalidArgument naming the field and the value for anything outside
// dns_names.h's sets or over the bounds above.
absl::Status ValidateGuestDns(const GuestDns& dns);

// "vmmap.dns=<servers>/<searches>/<options>", each list comma-separated,
// e.g. vmmap.dns=10.96.0.10/default.svc.cluster.local,cluster.local/ndots:5.
// Empty when `dns` is empty. The validated character sets contain no space,
// '/', ',' or '=', so the argument is one kernel word that splits back
// exactly. The test guest (tests/network/build-net-guest.sh) writes
// /etc/resolv.conf from it.
absl::StatusOr<std::string> KernelDnsArgument(const GuestDns& dns);

}  // namespace vmmap::network

#endif  // VMMAP_SERVER_NETWORK_GUEST_DNS_H_
