// How a kernel-boot guest learns its pod address: the kernel's `ip=`
// parameter (Documentation/admin-guide/nfs/nfsroot.rst), which Debian's
// klibc ipconfig and vmmap's test guest also read:
//   ip=<client>::<gateway>:<netmask>:<hostname>:<device>:off:<dns0>:<dns1>
#ifndef VMMAP_SERVER_NETWORK_KERNEL_IP_ARG_H_
#define VMMAP_SERVER_NETWORK_KERNEL_IP_ARG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/network/cni_result.h"

namespace vmmap::network {

// `ip` must be IPv4 (the parameter has no IPv6 form). The hostname must be
// an RFC 1123 label set (it comes from the pod) and is left out when empty;
// at most two nameservers, IPv4 only, are kept.
absl::StatusOr<std::string> KernelIpArgument(const CniIp& ip, const std::string& hostname,
                                             const std::string& guest_device,
                                             const std::vector<std::string>& nameservers);

}  // namespace vmmap::network

#endif  // VMMAP_SERVER_NETWORK_KERNEL_IP_ARG_H_
