// The result a CNI ADD chain returns (spec formats 0.3.x, 0.4.0 and 1.0.0,
// which share one shape): interfaces, IPs, routes, DNS.
#ifndef VMMAP_SERVER_NETWORK_CNI_RESULT_H_
#define VMMAP_SERVER_NETWORK_CNI_RESULT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace vmmap::network {

struct CniInterface {
  std::string name;
  std::string mac;
  std::string sandbox;  // netns path; empty for host-side interfaces
  int mtu = 0;          // 0: not reported (1.1.x plugins do not)
};

struct CniIp {
  std::string address;  // CIDR as written, e.g. "10.88.0.5/16"
  std::string ip;       // without the prefix
  int prefix_length = 0;
  bool ipv6 = false;
  std::string gateway;  // may be empty
  int interface = -1;   // index into interfaces, -1 when absent
};

struct CniRoute {
  std::string dst;  // CIDR
  std::string gw;   // may be empty
};

struct CniDns {
  std::vector<std::string> nameservers;
  std::string domain;
  std::vector<std::string> search;
  std::vector<std::string> options;
};

struct CniResult {
  std::string cni_version;
  std::vector<CniInterface> interfaces;
  std::vector<CniIp> ips;
  std::vector<CniRoute> routes;
  CniDns dns;
  std::string json;  // the bytes as returned: prevResult of later calls
};

// DataLoss when the bytes are not a result of a supported version (also
// used for results read back from the state store).
absl::StatusOr<CniResult> ParseCniResult(const std::string& bytes);

// The pod's addresses on the sandbox interface `ifname`: IPv4 first (the
// primary, as containerd orders them), then IPv6. IPs that name no
// interface count as the pod's.
std::vector<CniIp> PodIps(const CniResult& result, const std::string& ifname);

}  // namespace vmmap::network

#endif  // VMMAP_SERVER_NETWORK_CNI_RESULT_H_
