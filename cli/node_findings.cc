#include "cli/node_findings.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace vmmap {
namespace {

// The child's finding crosses the pipe as four NUL-separated fields.
std::string Encode(const Finding& f) {
  return absl::StrCat(static_cast<int>(f.status), std::string(1, '\0'), f.required ? "1" : "0",
                      std::string(1, '\0'), f.detail, std::string(1, '\0'), f.fix);
}

Finding Failed(const std::string& name, std::string detail, std::string fix) {
  return {name, FindingStatus::kFail, true, std::move(detail), std::move(fix)};
}

}  // namespace

const char* FindingLabel(const Finding& f) {
  switch (f.status) {
    case FindingStatus::kOk:
      return "ok  ";
    case FindingStatus::kWarn:
      return "WARN";
    case FindingStatus::kFail:
      return f.required ? "FAIL" : "WARN";
  }
  return "FAIL";
}

bool NodeIsReady(const std::vector<Finding>& findings) {
  for (const Finding& f : findings) {
    if (f.required && f.status == FindingStatus::kFail) return false;
  }
  return true;
}

absl::StatusOr<std::string> CollectFromChild(const std::function<void(int out_fd)>& child_main,
                                             int timeout_s) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  const pid_t child = fork();
  if (child < 0) {
    close(fds[0]);
    close(fds[1]);
    return absl::UnavailableError(absl::StrCat("fork: ", strerror(errno)));
  }
  if (child == 0) {
    close(fds[0]);
    child_main(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  std::string data;
  bool eof = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (!eof) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p = {fds[0], POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    char buf[4096];
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof = true;
    } else if (data.size() < (1 << 20)) {  // a probe's answer is small; bound a runaway child
      data.append(buf, static_cast<size_t>(n));
    }
  }
  close(fds[0]);
  if (!eof) kill(child, SIGKILL);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!eof)
    return absl::DeadlineExceededError(absl::StrCat("no answer within ", timeout_s, " s (killed)"));
  return data;
}

absl::StatusOr<std::string> CommandFirstLine(const std::vector<std::string>& argv, int timeout_s) {
  absl::StatusOr<std::string> out = CollectFromChild(
      [&argv](int out_fd) {
        std::vector<char*> args;
        for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        dup2(out_fd, STDOUT_FILENO);
        const int null_fd = open("/dev/null", O_RDWR);
        dup2(null_fd, STDIN_FILENO);
        dup2(null_fd, STDERR_FILENO);
        execv(args[0], args.data());
        _exit(127);
      },
      timeout_s);
  if (!out.ok()) return out.status();
  if (out->empty()) return absl::NotFoundError(absl::StrCat(argv[0], " printed nothing"));
  return out->substr(0, out->find('\n'));
}

Finding RunIsolated(const std::string& name, int timeout_s, const std::function<Finding()>& probe) {
  absl::StatusOr<std::string> data = CollectFromChild(
      [&probe](int out_fd) {
        const std::string out = Encode(probe());
        size_t done = 0;
        while (done < out.size()) {
          const ssize_t n = write(out_fd, out.data() + done, out.size() - done);
          if (n <= 0) break;
          done += static_cast<size_t>(n);
        }
      },
      timeout_s);
  if (!data.ok()) return Failed(name, std::string(data.status().message()), "");
  std::vector<std::string> parts = absl::StrSplit(*data, absl::MaxSplits('\0', 3));
  if (parts.size() != 4 || parts[0].size() != 1 || parts[0][0] < '0' || parts[0][0] > '2') {
    return Failed(name, "the probe died without an answer", "");
  }
  return {name, static_cast<FindingStatus>(parts[0][0] - '0'), parts[1] == "1", parts[2], parts[3]};
}

}  // namespace vmmap
