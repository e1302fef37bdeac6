// Parsers of the kernel's cgroup and /proc files the stats read. Pure: text
// in, values out, so they are tested on literal file contents; what to read
// where is domain_cgroup.h's job.
#ifndef VMMAP_SERVER_STATS_CGROUP_FILES_H_
#define VMMAP_SERVER_STATS_CGROUP_FILES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace vmmap {

// The "key value" lines of a kernel file (cpu.stat, memory.stat), looked up
// by key in the text itself: a view, so the text must outlive it. Each Get
// scans the text for a line starting with "key "; a value that is not an
// unsigned decimal reads as absent. A refresh asks a few keys of files of a
// few dozen lines, which costs far less than building a map of every line
// (that map was 70% of a domain's reading in user space, measured with
// callgrind).
class KeyedValues {
 public:
  KeyedValues() = default;
  explicit KeyedValues(absl::string_view text) : text_(text) {}
  std::optional<uint64_t> Get(absl::string_view key) const;

 private:
  absl::string_view text_;
};

// A file holding one unsigned decimal (cpuacct.usage, memory.usage_in_bytes,
// memory.current, memory.max). "max" and anything else unparsable: nullopt.
std::optional<uint64_t> ParseSingleValue(absl::string_view text);

// One line of /proc/<pid>/cgroup: "hierarchy-id:controllers:path".
struct ProcCgroupEntry {
  int hierarchy = -1;                    // 0: the cgroup2 (unified) hierarchy
  std::vector<std::string> controllers;  // v1 only: "cpu", "cpuacct", "name=systemd", ...
  std::string path;                      // relative to the hierarchy's root
};
std::vector<ProcCgroupEntry> ParseProcCgroup(absl::string_view text);

// A cgroup filesystem mount from /proc/self/mountinfo.
struct CgroupMount {
  std::string mountpoint;
  std::string root;  // the cgroup shown at mountpoint ("/" unless a bind or namespace)
  bool v2 = false;
  std::vector<std::string> controllers;  // v1: from the mount's super options
};
std::vector<CgroupMount> ParseCgroupMounts(absl::string_view mountinfo);

// Memory figures computed as cAdvisor does (and kubelet from it): working set
// = usage − inactive file pages, floored at 0.
struct CgroupMemory {
  std::optional<uint64_t> usage, working_set, rss, cache, limit, page_faults, major_page_faults;
};
// v1: memory.usage_in_bytes, memory.stat (total_* keys: the hierarchy's),
// memory.limit_in_bytes (a value at or above 2^62 means unlimited).
CgroupMemory MemoryFromV1(std::optional<uint64_t> usage, const KeyedValues& stat,
                          std::optional<uint64_t> limit);
// v2: memory.current, memory.stat, memory.max ("max" arrives as nullopt).
CgroupMemory MemoryFromV2(std::optional<uint64_t> current, const KeyedValues& stat,
                          std::optional<uint64_t> max);

// CFS throttling from cpu.stat, in nanoseconds (v1: throttled_time ns; v2:
// throttled_usec).
struct CgroupThrottling {
  std::optional<uint64_t> nr_periods, nr_throttled, throttled_ns;
};
CgroupThrottling ThrottlingFromCpuStat(const KeyedValues& stat, bool v2);
// Field by field sums (several vCPU cgroups as one figure); a field unknown
// in any part is unknown in the sum.
CgroupThrottling SumThrottling(const std::vector<CgroupThrottling>& parts);

// Total CPU time in ns from a v2 cpu.stat (usage_usec).
std::optional<uint64_t> UsageFromV2CpuStat(const KeyedValues& stat);

// The argument after "-uuid" in a NUL-separated /proc/<pid>/cmdline,
// lowercased (libvirt starts every QEMU with its domain's UUID); nullopt if
// there is none.
std::optional<std::string> UuidFromCmdline(absl::string_view cmdline);

}  // namespace vmmap

#endif  // VMMAP_SERVER_STATS_CGROUP_FILES_H_
