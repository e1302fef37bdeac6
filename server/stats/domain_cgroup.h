// Where the kernel accounts one running libvirt domain, and one reading of it.
//
// libvirt names the domain's cgroup ("machine/qemu-N-NAME.libvirt-qemu" on
// cgroupfs, "machine-qemu\x2dN\x2dNAME.scope" on systemd, under the domain's
// <resource><partition>) and moves QEMU into it, the main thread into its
// "emulator" child. So the domain's own directories are found from QEMU's
// /proc/<pid>/cgroup, for cgroup v1, v2 and hybrid hosts alike, without
// re-implementing libvirt's naming. A v1 controller whose path is not the
// domain's (libvirt may leave cpuacct at the hierarchy root, where its
// counter is machine-wide) is not used; CPU time then comes from the domain's
// directory in the cgroup2 hierarchy (its cpu.stat always counts usage).
#ifndef VMMAP_SERVER_STATS_DOMAIN_CGROUP_H_
#define VMMAP_SERVER_STATS_DOMAIN_CGROUP_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "server/stats/cgroup_files.h"

namespace vmmap {

// Open descriptors of one domain's cgroup files, reused across reads (an
// open costs more than the read itself), closed when the domain's entry
// goes. How many the process keeps open in all is bounded by a shared
// budget; files beyond it are opened and closed per read.
class OpenCgroupFiles;
struct FdBudget;

// The files of one domain's cgroup, absolute paths. A CPU usage path is
// either a cpuacct.usage (ns) or a cgroup2 cpu.stat (usage_usec).
struct DomainCgroupFiles {
  pid_t pid = 0;
  std::string cpu_usage;  // whole domain; empty: no per-domain CPU counter on this host
  bool cpu_usage_v2 = false;
  std::string emulator_usage;           // same kind as cpu_usage; empty if absent
  std::vector<std::string> vcpu_usage;  // vcpu0, vcpu1, ... in order; same kind
  std::string throttling;               // the domain's cpu.stat with CFS counters
  bool throttling_v2 = false;
  // The same counters of the emulator and vcpuN children, where libvirt
  // gives each its own quota; same kind as `throttling`, empty if absent.
  std::string emulator_throttling;
  std::vector<std::string> vcpu_throttling;
  std::string memory_dir;  // empty: no per-domain memory cgroup
  bool memory_v2 = false;
  // Filled by CgroupFs::Read; copies share it. Reads through one entry must
  // not run concurrently (DomainSampler serialises them).
  mutable std::shared_ptr<OpenCgroupFiles> open;
};

// One reading of a domain's cgroup files.
struct CgroupSample {
  std::optional<uint64_t> cpu_ns, emulator_ns;
  std::vector<uint64_t> vcpu_ns;
  CgroupThrottling throttling;           // the domain's global quota
  CgroupThrottling emulator_throttling;  // the emulator threads' quota
  CgroupThrottling vcpu_throttling;      // the vCPU threads' quotas, summed over vCPUs
  CgroupMemory memory;
};

// The host's proc and cgroup filesystems (tests point it at a fake tree).
class CgroupFs {
 public:
  // /proc and the cgroup mounts of /proc/self/mountinfo.
  static CgroupFs Host();
  // `max_open_files`: descriptors kept open across reads, in all domains
  // together (default: a quarter of the soft RLIMIT_NOFILE).
  CgroupFs(std::string proc_root, std::vector<CgroupMount> mounts, int max_open_files = -1);

  // The QEMU processes of the domains whose UUIDs are given, found with one
  // pass over proc_root (cmdline "-uuid U"). Domains without a process here
  // (another host's, or stopped meanwhile) are absent from the result.
  absl::flat_hash_map<std::string, pid_t> FindQemuByUuid(
      const absl::flat_hash_set<std::string>& uuids) const;

  // The domain's files from /proc/<pid>/cgroup. NotFound when the process is
  // gone; FailedPrecondition when it sits in no cgroup of its own.
  absl::StatusOr<DomainCgroupFiles> Locate(pid_t pid) const;

  // Is there still a process `pid` (a stat of proc_root/pid)?
  bool ProcessExists(pid_t pid) const;

  // Reads every file of `files`. NotFound (or another error) when a file
  // the domain must have cannot be read, e.g. because the domain stopped and
  // libvirt removed its cgroup: the caller locates it again or reports no
  // figures.
  absl::StatusOr<CgroupSample> Read(const DomainCgroupFiles& files) const;

 private:
  // Host path of `path` in the hierarchy mounted for `controller` ("" for
  // cgroup2); empty when no such mount shows it.
  std::string HostPath(const std::string& controller, const std::string& path) const;

  // Reads `path` through the domain's open descriptors.
  absl::StatusOr<std::string> ReadFile(const DomainCgroupFiles& files,
                                       const std::string& path) const;

  std::string proc_root_;
  std::vector<CgroupMount> mounts_;
  std::shared_ptr<FdBudget> budget_;
};

}  // namespace vmmap

#endif  // VMMAP_SERVER_STATS_DOMAIN_CGROUP_H_
