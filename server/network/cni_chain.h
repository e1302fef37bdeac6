// Runs a CNI network's plugin chain for one pod: ADD in order, each plugin
// receiving the previous result, and DEL in reverse. Plugins are executed as
// the CNI spec says (env + config on stdin, no shell) with a timeout and
// bounded output; a plugin's error is carried verbatim in the Status.
#ifndef VMMAP_SERVER_NETWORK_CNI_CHAIN_H_
#define VMMAP_SERVER_NETWORK_CNI_CHAIN_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/network/cni_config.h"
#include "server/network/cni_result.h"

namespace vmmap::network {

struct PortMapping {
  int host_port = 0;
  int container_port = 0;
  std::string protocol = "tcp";  // tcp, udp or sctp
  std::string host_ip;           // empty: all addresses
};

// The pod's DNS (kubelet's), for plugins with the "dns" capability.
struct CniRuntimeDns {
  std::vector<std::string> servers;
  std::vector<std::string> searches;
  std::vector<std::string> options;
};

struct CniAttachment {
  std::string container_id;  // the sandbox id
  std::string netns_path;
  std::string ifname = "eth0";
  // CNI_ARGS, e.g. K8S_POD_NAMESPACE; values must not contain ';' or '='.
  std::vector<std::pair<std::string, std::string>> args;
  std::vector<PortMapping> port_mappings;  // to plugins with the portMappings capability
  CniRuntimeDns dns;                       // to plugins with the dns capability
};

class CniChain {
 public:
  CniChain(CniNetworkList network, std::vector<std::string> bin_dirs,
           absl::Duration plugin_timeout = absl::Minutes(2));

  // Runs ADD through the chain. When a plugin fails, the chain is DELeted
  // (so no veth or IPAM lease stays behind) and ADD's error is returned:
  // FailedPrecondition for configuration errors (missing plugin, invalid
  // config: CNI codes 1, 2, 4, 6, 7), Unavailable otherwise.
  absl::StatusOr<CniResult> Add(const CniAttachment& attachment) const;

  // Runs DEL through the chain in reverse. `prev_result_json` is ADD's
  // result when known (empty otherwise). Idempotent: plugins treat a second
  // DEL as success. Every plugin runs even when one fails; the first error
  // is returned.
  absl::Status Del(const CniAttachment& attachment, const std::string& prev_result_json) const;

  const CniNetworkList& network() const { return network_; }

 private:
  absl::StatusOr<std::string> Invoke(const CniPlugin& plugin, const char* command,
                                     const CniAttachment& attachment,
                                     const std::string& prev_result_json) const;

  CniNetworkList network_;
  std::vector<std::string> bin_dirs_;
  absl::Duration plugin_timeout_;
};

}  // namespace vmmap::network

#endif  // VMMAP_SERVER_NETWORK_CNI_CHAIN_H_
