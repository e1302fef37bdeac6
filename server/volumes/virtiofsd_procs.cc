#include "server/volumes/virtiofsd_procs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/base/errno_status.h"
#include "server/base/processes.h"

namespace vmmap::volumes {

std::vector<pid_t> FindVirtiofsd(const std::string& views_dir, const std::string& proc_root) {
  // virtiofsd takes "-o source=…,cache=none,…" as one word.
  const std::string needle = absl::StrCat("source=", views_dir, "/");
  return FindProcesses(proc_root, [&needle](const std::vector<std::string>& argv) {
    for (const std::string& word : argv) {
      if (absl::StrContains(word, needle)) return true;
    }
    return false;
  });
}

absl::Status MoveIntoCgroups(const std::vector<pid_t>& pids,
                             const std::vector<std::string>& cgroup_dirs) {
  absl::Status first;
  for (const std::string& dir : cgroup_dirs) {
    for (pid_t pid : pids) {
      const std::string procs = absl::StrCat(dir, "/cgroup.procs");
      const std::string text = absl::StrCat(pid);
      const int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
      int err = fd < 0 ? errno : 0;
      if (fd >= 0) {
        if (write(fd, text.data(), text.size()) < 0) err = errno;
        close(fd);
      }
      // ESRCH: the process exited (its domain stopped meanwhile).
      if (err != 0 && err != ESRCH && first.ok()) {
        first = ErrnoToStatus(err, absl::StrCat("moving virtiofsd ", pid, " into ", procs));
      }
    }
  }
  return first;
}

absl::Status KillVirtiofsd(const std::string& views_dir, int wait_ms,
                           const std::string& proc_root) {
  std::vector<pid_t> pids = FindVirtiofsd(views_dir, proc_root);
  if (pids.empty()) return absl::OkStatus();
  for (pid_t pid : pids) kill(pid, SIGKILL);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    pids = FindVirtiofsd(views_dir, proc_root);
    if (pids.empty()) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::UnavailableError(absl::StrCat("virtiofsd processes ", absl::StrJoin(pids, ", "),
                                             " of ", views_dir, " did not exit after SIGKILL"));
}

}  // namespace vmmap::volumes
