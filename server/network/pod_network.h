// The narrow interface the sandbox lifecycle calls for a pod's network, so
// that the runtime never sees CNI, namespaces or taps:
//
//   RunPodSandbox     SetUp      (record an intent first: SetUp's names are
//                                 derived from the sandbox id, so recovery
//                                 can TearDown + Remove with the id alone)
//   CreateContainer   GuestNicFor → the domain's <interface> and ip=
//   StartContainer    PrepareTap before the domain starts, AttachTap after
//   StopPodSandbox    TearDown   (idempotent, also without a stored result)
//   RemovePodSandbox  Remove     (idempotent)
//   Status            Readiness
//   PodSandboxStats   Counters   (eth0 inside the pod namespace)
//
// hostNetwork pods get no namespace and no CNI call (SetUp returns an empty
// state, the others do nothing).
#ifndef VMMAP_SERVER_NETWORK_POD_NETWORK_H_
#define VMMAP_SERVER_NETWORK_POD_NETWORK_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/network/cni_chain.h"
#include "server/network/cni_config.h"
#include "server/network/interface_counters.h"
#include "server/network/nocloud_seed.h"

namespace vmmap::network {

struct PodNetworkRequest {
  std::string sandbox_id;  // lowercase hex, at least 32 digits
  std::string pod_namespace;
  std::string pod_name;
  std::string pod_uid;
  bool host_network = false;
  std::vector<PortMapping> port_mappings;
  // The pod's DNS: to plugins with the dns capability, and its servers (when
  // set) are the guest's resolvers instead of the CNI result's.
  CniRuntimeDns dns;
};

// What the sandbox record keeps.
struct PodNetworkState {
  std::string netns_path;        // empty: host network
  std::string cni_result_json;   // ADD's result, prevResult of DEL
  std::vector<std::string> ips;  // primary (IPv4 if any) first
};

// The VM side of a pod network, for CreateContainer/StartContainer.
struct GuestNic {
  std::string tap;             // libvirt's <target dev>
  std::string mac;             // the pod interface's MAC
  int mtu = 0;                 // the pod interface's MTU
  std::string kernel_ip_arg;   // "ip=…" for kernel-boot images
  std::string kernel_dns_arg;  // "vmmap.dns=…" (guest_dns.h), empty without DNS
  GuestAddressing addressing;  // for a disk image's NoCloud seed
};

class PodNetwork {
 public:
  virtual ~PodNetwork() = default;
  virtual NetworkReadiness Readiness() const = 0;
  // Creates the namespace and runs ADD. On failure nothing is left (no
  // namespace, veth or lease) and the plugin's message is in the Status.
  virtual absl::StatusOr<PodNetworkState> SetUp(const PodNetworkRequest& request) = 0;
  virtual absl::Status TearDown(const PodNetworkRequest& request, const PodNetworkState& state) = 0;
  virtual absl::Status Remove(const PodNetworkRequest& request) = 0;
  virtual absl::StatusOr<GuestNic> GuestNicFor(const PodNetworkRequest& request,
                                               const PodNetworkState& state,
                                               const std::string& hostname) = 0;
  virtual absl::Status PrepareTap(const GuestNic& nic) = 0;
  virtual absl::Status AttachTap(const GuestNic& nic, const PodNetworkState& state) = 0;
  virtual absl::StatusOr<InterfaceCounters> Counters(const PodNetworkState& state) = 0;
};

struct CniOptions {
  std::string conf_dir = kDefaultCniConfDir;
  std::string bin_dir = kDefaultCniBinDir;  // --cni-bin-dir (colon-separated)
  std::string netns_dir = "/run/netns";
};

// The CNI implementation. The config directory is read at every SetUp and
// Readiness, so a config dropped in later takes effect (as in containerd).
std::unique_ptr<PodNetwork> NewCniPodNetwork(CniOptions options);

}  // namespace vmmap::network

#endif  // VMMAP_SERVER_NETWORK_POD_NETWORK_H_
