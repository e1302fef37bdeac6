// The typed records the state store persists: what the runtime knows about a
// pod sandbox and its container. No CRI message crosses this line: server/cri
// converts requests into these and these into responses.
#ifndef VMMAP_SERVER_STATE_RECORDS_H_
#define VMMAP_SERVER_STATE_RECORDS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mapper/resources.h"
#include "mapper/volume_mounts.h"

namespace vmmap {

using StringMap = std::map<std::string, std::string>;

// Values match runtime.v1.PodSandboxState.
enum class SandboxState { kReady = 0, kNotReady = 1 };

// Values match runtime.v1.ContainerState.
enum class ContainerState { kCreated = 0, kRunning = 1, kExited = 2, kUnknown = 3 };

// Identity kubelet gives a pod sandbox (runtime.v1.PodSandboxMetadata).
struct PodMetadata {
  std::string name;
  std::string uid;
  std::string namespace_name;
  uint32_t attempt = 0;
};

// A hostPort request (runtime.v1.PortMapping), for the CNI portmap plugin.
struct PortMapping {
  std::string protocol = "tcp";  // tcp, udp or sctp
  int32_t container_port = 0;
  int32_t host_port = 0;
  std::string host_ip;  // empty: all addresses
};

// runtime.v1.DNSConfig: what the guest should resolve with.
struct DnsConfig {
  std::vector<std::string> servers;
  std::vector<std::string> searches;
  std::vector<std::string> options;
};

// What RunPodSandbox asked for, as far as vmmap uses it.
struct SandboxConfig {
  PodMetadata metadata;
  std::string hostname;
  std::string log_directory;  // CRI container logs live below it
  StringMap labels;
  StringMap annotations;
  std::string cgroup_parent;
  LinuxResources pod_resources;  // pod totals, overhead excluded
  LinuxResources overhead;       // pod.spec.overhead (RuntimeClass)
  std::string runtime_handler;
  bool host_network = false;  // NamespaceMode NODE: no netns, no CNI
  std::vector<PortMapping> port_mappings;
  DnsConfig dns;
};

// The pod network a sandbox got from CNI (server/network/pod_network.h).
struct SandboxNetwork {
  // Intent: RunPodSandbox may have run CNI ADD, but the result is not
  // recorded yet. Recovery runs DEL for such a row and deletes it; such
  // rows are invisible to kubelet (their id was never returned).
  bool pending = false;
  std::string netns_path;        // empty: host network (or no network)
  std::string cni_result_json;   // ADD's result, prevResult of DEL
  std::vector<std::string> ips;  // primary first
};

struct SandboxRecord {
  std::string id;
  SandboxConfig config;
  SandboxState state = SandboxState::kReady;
  int64_t created_at_ns = 0;
  SandboxNetwork network;
};

// Identity kubelet gives a container (runtime.v1.ContainerMetadata).
struct ContainerMetadata {
  std::string name;
  uint32_t attempt = 0;
};

// What CreateContainer asked for, as far as vmmap uses it (the resources are
// ContainerRecord::resources: they change with UpdateContainerResources).
struct ContainerConfig {
  ContainerMetadata metadata;
  std::string image_ref;  // the image as the client named it
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::string log_path;  // relative to the sandbox's log_directory
  StringMap labels;
  StringMap annotations;
  // Volumes kubelet prepared on the host, shared into the VM (docs/volumes.md);
  // kept so that a re-plan (live resize) counts the same virtiofsd term.
  std::vector<VolumeMount> mounts;
};

struct ContainerRecord {
  std::string id;
  std::string sandbox_id;
  ContainerConfig config;
  LinuxResources resources;  // the limits now in force
  std::string image_id;      // the resolved image ("sha256:…")
  std::string domain_name;
  std::string overlay_path;  // empty for kernel-bundle images
  std::string console_path;
  ContainerState state = ContainerState::kCreated;
  bool pending = false;  // outside resources may be half-created
  int64_t created_at_ns = 0;
  int64_t started_at_ns = 0;
  int64_t finished_at_ns = 0;
  int32_t exit_code = 0;
  std::string reason;
  std::string message;
};

inline bool operator==(const LinuxResources& a, const LinuxResources& b) {
  return a.cpu_period_us == b.cpu_period_us && a.cpu_quota_us == b.cpu_quota_us &&
         a.cpu_shares == b.cpu_shares && a.memory_limit_bytes == b.memory_limit_bytes &&
         a.cpuset_cpus == b.cpuset_cpus;
}
inline bool operator!=(const LinuxResources& a, const LinuxResources& b) { return !(a == b); }

}  // namespace vmmap

#endif  // VMMAP_SERVER_STATE_RECORDS_H_
