// What `vmmap check` found about this node: one finding per requirement,
// each with the fix an operator can apply.
#ifndef VMMAP_CLI_NODE_FINDINGS_H_
#define VMMAP_CLI_NODE_FINDINGS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace vmmap {

enum class FindingStatus { kOk, kWarn, kFail };

struct Finding {
  std::string name;  // "kvm", "memlock", …
  FindingStatus status = FindingStatus::kOk;
  bool required = true;  // a failed required finding makes `vmmap check` exit 1
  std::string detail;    // what was seen
  std::string fix;       // empty when nothing needs doing
};

// "ok  ", "WARN", "FAIL" (a failed optional finding prints as WARN).
const char* FindingLabel(const Finding& f);

// True when no required finding failed.
bool NodeIsReady(const std::vector<Finding>& findings);

// Forks; the child runs `child_main` with the write end of a pipe and exits.
// Returns what the child wrote once it closes the pipe, DeadlineExceeded
// (the child killed) when that takes longer than `timeout_s`.
absl::StatusOr<std::string> CollectFromChild(const std::function<void(int out_fd)>& child_main,
                                             int timeout_s);

// The first line `argv` prints on stdout (no shell; stdin and stderr closed),
// within `timeout_s`.
absl::StatusOr<std::string> CommandFirstLine(const std::vector<std::string>& argv, int timeout_s);

// Runs `probe` in a child process and returns its finding, or a failed one
// naming the timeout when it has not answered within `timeout_s` (a probe
// of KVM or libvirt can hang for good under nested virtualisation; the
// child is then killed, never waited for forever).
Finding RunIsolated(const std::string& name, int timeout_s, const std::function<Finding()>& probe);

}  // namespace vmmap

#endif  // VMMAP_CLI_NODE_FINDINGS_H_
