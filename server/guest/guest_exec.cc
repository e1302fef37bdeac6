#include "server/guest/guest_exec.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/guest/qga_protocol.h"

namespace vmmap::guest {
namespace {

using Clock = std::chrono::steady_clock;

// How long one agent round trip may take when the caller set no limit.
constexpr int kAgentReplySeconds = 30;
constexpr auto kFirstPoll = std::chrono::milliseconds(10);
constexpr auto kMaxPoll = std::chrono::milliseconds(200);

std::string Quoted(const std::vector<std::string>& argv) {
  std::string joined = absl::StrJoin(argv, " ");
  if (joined.size() > 200) joined = absl::StrCat(joined.substr(0, 200), "…");
  return absl::StrCat("\"", joined, "\"");
}

// Seconds the next agent call may take: what is left of the caller's limit
// (at least 1, libvirt's unit), or kAgentReplySeconds without one.
int ReplySeconds(const std::optional<Clock::time_point>& deadline) {
  if (!deadline) return kAgentReplySeconds;
  const auto left = std::chrono::ceil<std::chrono::seconds>(*deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 1, kAgentReplySeconds));
}

absl::Status TimedOut(const std::vector<std::string>& argv, int64_t timeout_seconds) {
  return absl::DeadlineExceededError(absl::StrCat(
      "command ", Quoted(argv), " did not exit within its timeout of ", timeout_seconds, " s"));
}

void KillBestEffort(virt::Hypervisor& hypervisor, std::string_view domain, int64_t pid) {
  hypervisor.AgentCommand(domain, GuestExecRequest({"kill", "-KILL", absl::StrCat(pid)}), 1)
      .IgnoreError();
}

}  // namespace

absl::StatusOr<ExecResult> ExecInGuest(virt::Hypervisor& hypervisor, std::string_view domain,
                                       const std::vector<std::string>& argv,
                                       int64_t timeout_seconds,
                                       const std::function<bool()>& cancelled) {
  if (argv.empty() || argv[0].empty()) {
    return absl::InvalidArgumentError("cmd: empty; ExecSync needs a command to run");
  }
  std::optional<Clock::time_point> deadline;
  if (timeout_seconds > 0) deadline = Clock::now() + std::chrono::seconds(timeout_seconds);

  absl::StatusOr<std::string> started =
      hypervisor.AgentCommand(domain, GuestExecRequest(argv), ReplySeconds(deadline));
  if (absl::IsDeadlineExceeded(started.status())) return TimedOut(argv, timeout_seconds);
  if (!started.ok()) {
    return absl::Status(started.status().code(),
                        absl::StrCat("exec ", Quoted(argv), " in the VM through qemu-guest-agent: ",
                                     started.status().message()));
  }
  absl::StatusOr<int64_t> pid = ParseGuestExecReply(*started);
  if (!pid.ok()) return pid.status();

  auto poll = kFirstPoll;
  while (true) {
    absl::StatusOr<std::string> reply =
        hypervisor.AgentCommand(domain, GuestExecStatusRequest(*pid), ReplySeconds(deadline));
    if (!reply.ok() && !absl::IsDeadlineExceeded(reply.status())) {
      return absl::Status(reply.status().code(),
                          absl::StrCat("exec ", Quoted(argv), ": status of guest process ", *pid,
                                       ": ", reply.status().message()));
    }
    if (reply.ok()) {
      absl::StatusOr<GuestExecStatus> status = ParseGuestExecStatusReply(*reply);
      if (!status.ok()) return status.status();
      if (status->exited) {
        return ExecResult{std::move(status->stdout_bytes), std::move(status->stderr_bytes),
                          status->exit_code};
      }
    }
    if (deadline && Clock::now() >= *deadline) {
      KillBestEffort(hypervisor, domain, *pid);
      return TimedOut(argv, timeout_seconds);
    }
    if (cancelled && cancelled()) {
      KillBestEffort(hypervisor, domain, *pid);
      return absl::CancelledError(
          absl::StrCat("exec ", Quoted(argv), ": the caller went away before the command exited"));
    }
    Clock::duration sleep = poll;
    if (deadline) sleep = std::min<Clock::duration>(sleep, *deadline - Clock::now());
    if (sleep > Clock::duration::zero()) std::this_thread::sleep_for(sleep);
    poll = std::min<std::chrono::milliseconds>(poll * 2, kMaxPoll);
  }
}

}  // namespace vmmap::guest
