#include "server/base/errno_status.h"
#include "server/images/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/images/fs_util.h"

namespace vmmap::images_internal {
namespace {

std::string FindInPath(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':')) {
    if (dir.empty()) continue;
    std::string candidate = absl::StrCat(dir, "/", program);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return absl::StrCat("/usr/bin/", program);
}

void KillAndReap(pid_t pid) {
  kill(pid, SIGKILL);
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

absl::StatusOr<ProgramOutput> RunProgram(const std::vector<std::string>& args,
                                         std::chrono::milliseconds timeout, size_t max_output) {
  if (args.empty()) return absl::InternalError("RunProgram: no program");
  const std::string program = FindInPath(args[0]);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (size_t i = 1; i < args.size(); ++i) {
    argv.push_back(const_cast<char*>(args[i].c_str()));
  }
  argv.push_back(nullptr);
  UniqueFd devnull(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull.valid()) return ErrnoToStatus(errno, "open /dev/null");
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return ErrnoToStatus(errno, "pipe");
  UniqueFd out_rd(out_pipe[0]), out_wr(out_pipe[1]);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) return ErrnoToStatus(errno, "pipe");
  UniqueFd err_rd(err_pipe[0]), err_wr(err_pipe[1]);
  pid_t pid = fork();
  if (pid < 0) return ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    // Only async-signal-safe calls from here on.
    if (dup2(devnull.get(), 0) < 0 || dup2(out_wr.get(), 1) < 0 || dup2(err_wr.get(), 2) < 0) {
      _exit(126);
    }
    execv(argv[0], argv.data());
    static const char kMsg[] = "exec failed\n";
    ssize_t ignored = write(2, kMsg, sizeof kMsg - 1);
    (void)ignored;
    _exit(127);
  }
  out_wr.Reset();
  err_wr.Reset();

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  ProgramOutput result;
  bool out_open = true, err_open = true;
  char buf[8192];
  while (out_open || err_open) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      KillAndReap(pid);
      return absl::DeadlineExceededError(
          absl::StrCat(program, " did not finish within ", timeout.count(), " ms"));
    }
    pollfd fds[2] = {{out_open ? out_rd.get() : -1, POLLIN, 0},
                     {err_open ? err_rd.get() : -1, POLLIN, 0}};
    int n = poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) {
      int err = errno;
      KillAndReap(pid);
      return ErrnoToStatus(err, "poll");
    }
    for (int i = 0; i < 2 && n > 0; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      std::string& sink = i == 0 ? result.out : result.err;
      if (got <= 0) {
        (i == 0 ? out_open : err_open) = false;
        continue;
      }
      if (sink.size() + static_cast<size_t>(got) > max_output) {
        KillAndReap(pid);
        return absl::InvalidArgumentError(absl::StrCat(program, " wrote more than ", max_output,
                                                       " bytes to ", i == 0 ? "stdout" : "stderr"));
      }
      sink.append(buf, static_cast<size_t>(got));
    }
  }
  // Both streams closed; the child may still be running (it can close them
  // itself), so reaping is bound by the same deadline.
  int wstatus = 0;
  while (true) {
    pid_t r = waitpid(pid, &wstatus, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return ErrnoToStatus(errno, "waitpid");
    if (std::chrono::steady_clock::now() >= deadline) {
      KillAndReap(pid);
      return absl::DeadlineExceededError(
          absl::StrCat(program, " did not finish within ", timeout.count(), " ms"));
    }
    usleep(5000);
  }
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return result;
  std::string how = WIFEXITED(wstatus) ? absl::StrCat("exited with status ", WEXITSTATUS(wstatus))
                                       : absl::StrCat("killed by signal ", WTERMSIG(wstatus));
  return absl::InternalError(
      absl::StrCat(program, " ", how, ": ", absl::StripTrailingAsciiWhitespace(result.err)));
}

}  // namespace vmmap::images_internal
