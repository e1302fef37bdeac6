// Between a sandbox record and its pod network (server/network): the
// request the network needs, the state it returned, and the release that
// StopPodSandbox, RemovePodSandbox and recovery share. Names the network
// creates are derived from the sandbox id, so the record alone is enough to
// release them, also after a crash lost the CNI result.
#ifndef VMMAP_SERVER_RUNTIME_SANDBOX_NETWORK_H_
#define VMMAP_SERVER_RUNTIME_SANDBOX_NETWORK_H_

#include "absl/status/status.h"
#include "mapper/domain_spec.h"
#include "server/network/pod_network.h"
#include "server/state/records.h"

namespace vmmap {

network::PodNetworkRequest NetworkRequestFor(const SandboxRecord& sandbox);
network::PodNetworkState NetworkStateOf(const SandboxRecord& sandbox);

// Gives the domain the pod's NIC and, for a kernel image, the guest's
// address on the kernel command line (ip=…; a disk image gets the NIC only
// and must configure itself). InvalidArgument when the line would exceed the
// x86 limit.
absl::Status AddGuestNic(const network::GuestNic& nic, DomainSpec& spec);

// Nothing for a sandbox that never had a pod network. Otherwise runs CNI
// DEL (idempotent) and, if `remove_namespace`, removes the pod's
// network namespace (and a tap that never moved into it). Both steps run
// even if the first fails; the first error is returned.
absl::Status ReleaseSandboxNetwork(network::PodNetwork& network, const SandboxRecord& sandbox,
                                   bool remove_namespace);

}  // namespace vmmap

#endif  // VMMAP_SERVER_RUNTIME_SANDBOX_NETWORK_H_
