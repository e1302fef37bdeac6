#include "server/base/processes.h"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/base/files.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// By syscall: glibc 2.36's <sys/pidfd.h> declares its wrappers without C
// linkage, so C++ cannot link against them.
int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int PidfdKill(int pidfd) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0));
}

// Waits until the process behind `pidfd` exits (the pidfd turns readable)
// or `until` passes. True when it exited.
bool WaitForExit(int pidfd, Clock::time_point until) {
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    pollfd p{pidfd, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

}  // namespace

std::vector<std::string> ReadCommandLine(const std::string& proc_root, pid_t pid) {
  absl::StatusOr<std::string> bytes = ReadFile(absl::StrCat(proc_root, "/", pid, "/cmdline"));
  if (!bytes.ok() || bytes->empty()) return {};
  if (bytes->back() == '\0') bytes->pop_back();
  return absl::StrSplit(*bytes, '\0');
}

std::vector<pid_t> FindProcesses(const std::string& proc_root, const CommandLineMatch& match) {
  std::vector<pid_t> pids;
  std::error_code ec;
  fs::directory_iterator it(proc_root, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(it->path().filename().string(), &pid)) continue;
    const std::vector<std::string> argv = ReadCommandLine(proc_root, pid);
    if (!argv.empty() && match(argv)) pids.push_back(pid);
  }
  return pids;
}

KillOutcome KillProcesses(const CommandLineMatch& match, std::chrono::milliseconds deadline) {
  const Clock::time_point until = Clock::now() + deadline;
  KillOutcome outcome;
  std::vector<std::pair<pid_t, int>> signalled;  // pid, its pidfd
  for (pid_t pid : FindProcesses("/proc", match)) {
    const int pidfd = PidfdOpen(pid);
    if (pidfd < 0) continue;  // gone since the scan
    // The pidfd holds this process, whatever else takes its pid later: what
    // matches now is what the signal reaches.
    const std::vector<std::string> argv = ReadCommandLine("/proc", pid);
    if (argv.empty() || !match(argv) || PidfdKill(pidfd) != 0) {
      ::close(pidfd);
      continue;
    }
    signalled.emplace_back(pid, pidfd);
  }
  for (const auto& [pid, pidfd] : signalled) {
    (WaitForExit(pidfd, until) ? outcome.killed : outcome.left).push_back(pid);
    ::close(pidfd);
  }
  return outcome;
}

}  // namespace vmmap
