// What the volumes e2e test and the fio bench read of a running pod from
// /proc and the cgroup v1 files: its virtiofsd, where CPU and memory went.
#ifndef VMMAP_TESTS_VOLUMES_POD_PROBES_H_
#define VMMAP_TESTS_VOLUMES_POD_PROBES_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace vmmap::e2e {

// The processes whose command line names a view under `views_dir`
// (`source=<views_dir>/`): the container's virtiofsd (server/volumes).
std::vector<pid_t> VirtiofsdOf(const std::string& views_dir);

// utime + stime of a whole process (all its threads, live and exited), in
// seconds.
double CpuSeconds(pid_t pid);

// Every process with a thread in the cgroup `dir` or below it.
std::set<pid_t> ProcessesUnder(const std::string& dir);

// A field of /proc/<pid>/status in KiB (RssAnon, RssShmem, ...); 0 if absent.
int64_t StatusKib(pid_t pid, const std::string& field);

// The number of open file descriptors of `pid`.
int64_t OpenFds(pid_t pid);

// cpu.stat of a cpu cgroup: how often CFS bandwidth control stopped it.
struct CpuStat {
  int64_t nr_periods = 0;
  int64_t nr_throttled = 0;
  int64_t throttled_ns = 0;
};
// cpu.stat of `dir` ("" in the map) and of every cgroup below it (by path
// relative to `dir`): the domain's own ceiling and its emulator and vCPU
// slices each throttle on their own.
std::map<std::string, CpuStat> CpuStatsUnder(const std::string& dir);

// Samples, every 200 ms in a thread of its own, what `pids` (a pod's
// virtiofsd processes) make the pod's memory cgroup `memory_dir` carry:
//  * their private memory (RssAnon: heap, stacks, request buffers; guest RAM
//    they map is RssShmem, charged to QEMU), and
//  * the growth of the cgroup's kernel memory since the sampler started
//    (memory.kmem.usage_in_bytes): an open O_PATH descriptor per inode the
//    guest has looked up is a `struct file` in a kmem cache charged to the
//    cgroup. All of the growth is counted as virtiofsd's (QEMU's share, the
//    page tables of guest RAM it touches, is small): an overcount, never an
//    undercount.
class VirtiofsdMemorySampler {
 public:
  struct Peaks {
    int64_t private_kib = 0;
    int64_t kernel_growth_kib = 0;
    int64_t total_kib = 0;  // the largest private + kernel growth of one sample
    int64_t open_fds = 0;
    int samples = 0;
  };

  VirtiofsdMemorySampler(std::vector<pid_t> pids, std::string memory_dir);
  ~VirtiofsdMemorySampler();
  VirtiofsdMemorySampler(const VirtiofsdMemorySampler&) = delete;
  VirtiofsdMemorySampler& operator=(const VirtiofsdMemorySampler&) = delete;

  Peaks peaks() const;
  void Stop();

 private:
  void SampleOnce();

  const std::vector<pid_t> pids_;
  const std::string memory_dir_;
  const int64_t kmem_at_start_;
  mutable std::mutex mu_;
  Peaks peaks_;
  std::atomic<bool> running_{true};
  std::thread thread_;
};

}  // namespace vmmap::e2e

#endif  // VMMAP_TESTS_VOLUMES_POD_PROBES_H_
