// A typed description of the libvirt domain for one pod. Everything the XML
// says is decided here; domain_xml.cc only writes it out.
//
// Invariants established by PlanDomain (mapper/planner.h):
//  * vcpus ≥ 1; memory_kib ≥ the node's minimum guest memory.
//  * every period is in [1000, 1000000] µs and every quota in [1000, 2^44−1] µs.
//  * with per-vCPU quotas: vcpus × quota + emulator_quota ≤ global_quota.
//  * memtune.hard_limit_kib ≥ memory_kib whenever set, and memory_locked
//    implies hard_limit is set (libvirt would otherwise lift QEMU's memlock
//    limit entirely).
#ifndef VMMAP_MAPPER_DOMAIN_SPEC_H_
#define VMMAP_MAPPER_DOMAIN_SPEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mapper/node_config.h"
#include "mapper/volume_mounts.h"

namespace vmmap {

struct VcpuPin {
  int vcpu = 0;
  int cpu = 0;
};

struct CpuTune {
  std::optional<int64_t> shares;  // v1 shares, or v2 weight: what libvirt writes
  std::optional<int64_t> period_us;
  std::optional<int64_t> quota_us;  // per vCPU thread
  std::optional<int64_t> global_period_us;
  std::optional<int64_t> global_quota_us;  // the whole domain: the pod's ceiling
  std::optional<int64_t> emulator_period_us;
  std::optional<int64_t> emulator_quota_us;
  std::vector<VcpuPin> vcpu_pins;
  std::string emulator_cpuset;
};

struct DirectKernelBoot {
  std::string kernel;
  std::string initrd;
  std::string cmdline;
};

struct DiskSpec {
  std::string path;
  std::string format = "qcow2";
  std::string target = "vda";
  bool read_only = false;  // <readonly/>: the guest cannot write it (a NoCloud seed)
};

// The pod's NIC (server/network/tap_link.h): libvirt opens the existing tap
// `tap_name` in its own network namespace (managed='no': libvirt neither
// creates nor deletes it), and the guest gets the MAC and MTU of the pod's
// CNI interface so that nothing outside the pod sees a difference.
struct NetworkInterfaceSpec {
  std::string tap_name;
  std::string mac;  // empty: libvirt picks one
  int mtu = 0;      // 0: QEMU's default
};

// Who the domain belongs to, recorded in <metadata> so that the server can
// recognise its own domains (and never touch anyone else's).
struct PodOwner {
  std::string namespace_name;
  std::string name;
  std::string uid;
  uint32_t attempt = 0;
  std::string sandbox_id;
  std::string container_id;
};

struct DomainSpec {
  DomainType type = DomainType::kKvm;
  std::string name;
  std::string uuid;
  int vcpus = 1;
  int64_t memory_kib = 0;
  CpuTune cputune;
  std::optional<int64_t> hard_limit_kib;
  bool memory_locked = false;
  // Guest RAM as a shared memfd (<memoryBacking><source type='memfd'/>
  // <access mode='shared'/>): what vhost-user needs for virtiofsd to reach
  // the guest's buffers. Set exactly when a share uses virtio-fs.
  bool memory_shared = false;
  std::optional<int64_t> tcg_code_cache_mib;  // <features><tcg><tb-cache>
  std::string resource_partition;
  std::string emulator_path;
  std::optional<DirectKernelBoot> kernel_boot;
  std::vector<DiskSpec> disks;
  std::optional<NetworkInterfaceSpec> network_interface;  // none: no NIC at all
  std::string console_log_path;                           // empty: a pty console
  // The qemu-guest-agent channel (virtio-serial port org.qemu.guest_agent.0)
  // bound to this unix socket, which libvirt creates and connects to; the
  // path is vmmap's (under its state dir), never a pod's. Empty: no channel.
  std::string guest_agent_socket;
  // Host directories shared into the guest (mapper/shared_dirs.h), and how
  // virtiofsd runs for the virtio-fs ones.
  std::vector<SharedDirectory> shared_dirs;
  VirtiofsSettings virtiofs;
  int balloon_stats_period_s = 10;
  PodOwner owner;
};

}  // namespace vmmap

#endif  // VMMAP_MAPPER_DOMAIN_SPEC_H_
