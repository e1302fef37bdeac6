// Connects a VM's NIC to a pod's network namespace when QEMU runs outside
// it (docs/network.md has the measurements and the alternatives):
//
//  1. CreateTap makes a persistent tap in the host namespace, where libvirt
//     opens it for QEMU (<interface type='ethernet'><target managed='no'>:
//     libvirt 9.0 opens taps by name in its own namespace only).
//  2. After the domain started, MoveTapIntoPod moves the tap, with QEMU's
//     descriptor still attached, into the pod namespace and mirrors frames
//     both ways between it and the CNI interface (tc ingress + mirred
//     redirect, as Kata does). The CNI interface keeps its address; the
//     guest uses the same MAC and IP, so nothing outside the pod changes.
//
// Deleting the pod namespace deletes a tap inside it; DeleteTap removes one
// still in the host namespace (a domain that never started).
#ifndef VMMAP_SERVER_NETWORK_TAP_LINK_H_
#define VMMAP_SERVER_NETWORK_TAP_LINK_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace vmmap::network {

// "vmt" + the first 12 [0-9a-f] of the sandbox id: unique per pod, within
// the kernel's 15-byte interface names. InvalidArgument for other ids.
absl::StatusOr<std::string> TapNameFor(const std::string& sandbox_id);

struct LinkInfo {
  std::string mac;
  int mtu = 0;
};

// The MAC and MTU of `ifname` inside the namespace at `netns_path`.
absl::StatusOr<LinkInfo> ReadLink(const std::string& netns_path, const std::string& ifname);

// Creates the tap in the host namespace (idempotent when it is already there).
absl::Status CreateTap(const std::string& tap);

// Moves `tap` into the pod namespace (unless already there), gives it `mtu`
// (the MTU of `ifname`, read from the namespace when 0), brings it up and
// installs the two redirects. Idempotent. Two helper runs (ip, tc).
absl::Status MoveTapIntoPod(const std::string& tap, const std::string& netns_path,
                            const std::string& ifname, int mtu = 0);

// Removes `tap` from the host namespace; a missing tap is success.
absl::Status DeleteTap(const std::string& tap);

// True when `tap` exists in the namespace (empty path: the host's).
bool LinkExists(const std::string& netns_path, const std::string& name);

}  // namespace vmmap::network

#endif  // VMMAP_SERVER_NETWORK_TAP_LINK_H_
