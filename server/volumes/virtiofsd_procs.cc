#include "server/volumes/virtiofsd_procs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/base/errno_status.h"
#include "server/base/files.h"

namespace vmmap::volumes {
namespace {

namespace fs = std::filesystem;

// True when one of the NUL-separated words contains "source=<views_dir>/"
// (virtiofsd takes "-o source=…,cache=none,…" as one word).
bool MentionsViews(const std::string& cmdline, const std::string& views_dir) {
  const std::string needle = absl::StrCat("source=", views_dir, "/");
  for (absl::string_view word : absl::StrSplit(cmdline, '\0')) {
    if (absl::StrContains(word, needle)) return true;
  }
  return false;
}

}  // namespace

std::vector<pid_t> FindVirtiofsd(const std::string& views_dir, const std::string& proc_root) {
  std::vector<pid_t> pids;
  std::error_code ec;
  fs::directory_iterator it(proc_root, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(it->path().filename().string(), &pid)) continue;
    absl::StatusOr<std::string> cmdline = ReadFile(absl::StrCat(it->path().string(), "/cmdline"));
    if (cmdline.ok() && MentionsViews(*cmdline, views_dir)) pids.push_back(pid);
  }
  return pids;
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
