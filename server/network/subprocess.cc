#include "server/network/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/base/errno_status.h"

namespace vmmap::network {
namespace {

absl::Status ErrnoError(int err, absl::string_view what) { return vmmap::ErrnoToStatus(err, what); }

// Owns a file descriptor; closes it once.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Close(); }
  int get() const { return fd_; }
  void Reset(int fd) {
    Close();
    fd_ = fd;
  }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read;
  Fd write;
};

absl::Status MakePipe(Pipe& p) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe2");
  p.read.Reset(fds[0]);
  p.write.Reset(fds[1]);
  return absl::OkStatus();
}

// Runs in the forked child of a possibly multi-threaded parent: only
// async-signal-safe calls until execve.
[[noreturn]] void ExecChild(char* const argv[], char* const envp[], int in, int out, int err,
                            int status_fd, const char* netns_path) {
  auto fail = [status_fd](int e) {
    ssize_t ignored = write(status_fd, &e, sizeof e);
    (void)ignored;
    _exit(127);
  };
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) fail(errno);
  if (netns_path != nullptr) {
    int ns = open(netns_path, O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) fail(errno);
  }
  // Keep only 0-2 and the status pipe (close-on-exec): descriptors other
  // threads opened without O_CLOEXEC must not reach a plugin.
  for (int fd = 3; fd < 1024; ++fd) {
    if (fd != status_fd) close(fd);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(argv[0], argv, envp);
  fail(errno);
  _exit(127);  // not reached: fail() exits
}

std::vector<char*> CStrings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const std::string& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

int ExitCode(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return -1;
}

}  // namespace

absl::StatusOr<ProcessResult> RunProcess(const ProcessSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty() || spec.argv[0][0] != '/') {
    return absl::InvalidArgumentError("RunProcess: argv[0] must be an absolute path");
  }
  Pipe in, out, err, status;
  for (Pipe* p : {&in, &out, &err, &status}) {
    if (absl::Status s = MakePipe(*p); !s.ok()) return s;
  }
  std::vector<char*> argv = CStrings(spec.argv);
  std::vector<char*> envp = CStrings(spec.env);
  const char* netns = spec.netns_path.empty() ? nullptr : spec.netns_path.c_str();

  pid_t pid = fork();
  if (pid < 0) return ErrnoError(errno, "fork");
  if (pid == 0) {
    ExecChild(argv.data(), envp.data(), in.read.get(), out.write.get(), err.write.get(),
              status.write.get(), netns);
  }
  in.read.Close();
  out.write.Close();
  err.write.Close();
  status.write.Close();

  int exec_errno = 0;
  ssize_t n = read(status.read.get(), &exec_errno, sizeof exec_errno);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    int ws;
    waitpid(pid, &ws, 0);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot run ", spec.argv[0], netns ? absl::StrCat(" in netns ", netns) : "",
                     ": ", std::strerror(exec_errno)));
  }

  fcntl(in.write.get(), F_SETFL, O_NONBLOCK);
  if (spec.stdin_bytes.empty()) in.write.Close();
  size_t written = 0;
  ProcessResult result;
  absl::Status failure;
  const absl::Time deadline = absl::Now() + spec.timeout;
  while (out.read.get() >= 0 || err.read.get() >= 0) {
    pollfd fds[3] = {
        {out.read.get(), POLLIN, 0}, {err.read.get(), POLLIN, 0}, {in.write.get(), POLLOUT, 0}};
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      failure = absl::DeadlineExceededError(absl::StrCat(
          spec.argv[0], " did not finish within ", absl::FormatDuration(spec.timeout), "; killed"));
      break;
    }
    int ready = poll(fds, 3, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno != EINTR) {
      failure = ErrnoError(errno, "poll");
      break;
    }
    if (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) {
      ssize_t w = write(in.write.get(), spec.stdin_bytes.data() + written,
                        spec.stdin_bytes.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if (w < 0 && errno != EAGAIN && errno != EINTR) written = spec.stdin_bytes.size();
      if (written >= spec.stdin_bytes.size()) in.write.Close();
    }
    struct {
      Fd* fd;
      std::string* sink;
      short revents;
    } streams[2] = {{&out.read, &result.stdout_bytes, fds[0].revents},
                    {&err.read, &result.stderr_bytes, fds[1].revents}};
    for (auto& s : streams) {
      if (s.fd->get() < 0 || !(s.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[8192];
      ssize_t r = read(s.fd->get(), buf, sizeof buf);
      if (r > 0) {
        s.sink->append(buf, static_cast<size_t>(r));
        if (s.sink->size() > spec.max_output_bytes) {
          failure = absl::ResourceExhaustedError(absl::StrCat(
              spec.argv[0], " wrote more than ", spec.max_output_bytes, " bytes; killed"));
        }
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        s.fd->Close();
      }
    }
    if (!failure.ok()) break;
  }
  if (!failure.ok()) kill(pid, SIGKILL);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!failure.ok()) return failure;
  result.exit_code = ExitCode(wstatus);
  return result;
}

absl::StatusOr<std::string> RunChecked(const ProcessSpec& spec) {
  absl::StatusOr<ProcessResult> r = RunProcess(spec);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "`", absl::StrJoin(spec.argv, " "), "` exited with ", r->exit_code, ": ", r->stderr_bytes));
  }
  return std::move(r->stdout_bytes);
}

}  // namespace vmmap::network
