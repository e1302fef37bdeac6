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

// Gives the domain the pod's NIC and the guest its address: for a kernel
// image on the kernel command line (ip=… and vmmap.dns=…); for a disk image
// as a read-only disk at `seed_path`, the NoCloud seed that WriteGuestSeed
// writes there (cloud-init's NoCloud datasource finds it by its label).
// InvalidArgument when the line would exceed the x86 limit.
absl::Status AddGuestNic(const network::GuestNic& nic, const std::string& seed_path,
                         DomainSpec& spec);

// Attaches the NoCloud seed disk at `seed_path` to a disk-image domain
// (no-op for kernel boots, and when already attached by AddGuestNic).
void AttachGuestSeed(const std::string& seed_path, DomainSpec& spec);

// Writes the NoCloud seed of a disk-image domain (no-op for kernel boots)
// to `seed_path`, which AddGuestNic or AttachGuestSeed attached: the pod's
// addressing (`nic`, null without a pod network) and the mount commands of
// the domain's shares (docs/volumes.md). `container_id` becomes the seed's
// instance-id.
absl::Status WriteGuestSeed(const network::GuestNic* nic, const DomainSpec& spec,
                            const std::string& container_id, const std::string& seed_path);

// Nothing for a sandbox that never had a pod network. Otherwise runs CNI
// DEL (idempotent) and, if `remove_namespace`, removes the pod's
// network namespace (and a tap that never moved into it). Both steps run
// even if the first fails; the first error is returned.
absl::Status ReleaseSandboxNetwork(network::PodNetwork& network, const SandboxRecord& sandbox,
                                   bool remove_namespace);

}  // namespace vmmap

#endif  // VMMAP_SERVER_RUNTIME_SANDBOX_NETWORK_H_
