// A cloud-init NoCloud seed for a disk-image guest (as Virtlet gave its
// VMs): meta-data and network-config (version 2) describing the pod's
// address, written as YAML by construction (libyaml's emitter, every
// string a double-quoted scalar) so no pod-supplied text can add keys.
// PURE: no I/O; nocloud_image.h writes the volume.
#ifndef VMMAP_SERVER_NETWORK_NOCLOUD_SEED_H_
#define VMMAP_SERVER_NETWORK_NOCLOUD_SEED_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/network/cni_result.h"
#include "server/network/guest_dns.h"

namespace vmmap::network {

// What the guest's NIC gets, from the CNI result and the pod config.
struct GuestAddressing {
  std::string mac;         // matches the NIC in network-config
  int mtu = 0;             // 0: left out
  std::vector<CniIp> ips;  // the pod's addresses on its interface
  std::vector<CniRoute> routes;
  GuestDns dns;
  std::string hostname;  // may be empty
};

struct NoCloudSeed {
  std::string meta_data;
  std::string network_config;  // empty: none (the file is left out)
  // "#cloud-config", with vmmap's own `bootcmd` (the volume mounts,
  // docs/volumes.md) when there is one; never anything from a pod's
  // user-data (docs/network.md).
  std::string user_data;
};

// A command for cloud-init's `bootcmd`: an argv list, run without a shell.
using BootCommand = std::vector<std::string>;

// InvalidArgument naming the field and value for a hostname, DNS string,
// address, route or MAC that is not what its field allows; the instance id
// is a container id (hex).
absl::StatusOr<NoCloudSeed> RenderNoCloudSeed(const std::string& instance_id,
                                              const GuestAddressing& addressing);

// The same, with `bootcmd` in user-data; `addressing` may be null (a guest
// without a pod network: no network-config). Every bootcmd word is a
// double-quoted scalar, so no text can add keys.
absl::StatusOr<NoCloudSeed> RenderNoCloudSeed(const std::string& instance_id,
                                              const GuestAddressing* addressing,
                                              const std::vector<BootCommand>& bootcmd);

}  // namespace vmmap::network

#endif  // VMMAP_SERVER_NETWORK_NOCLOUD_SEED_H_
