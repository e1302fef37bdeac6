// Runs a helper program (a CNI plugin, ip, tc) the way the CNI spec asks:
// execve with an explicit argv and environment, bytes on stdin, no shell.
// Output is bounded and the run has a deadline, so a stuck or chatty plugin
// can neither hang a CRI call nor grow vmmap's memory.
#ifndef VMMAP_SERVER_NETWORK_SUBPROCESS_H_
#define VMMAP_SERVER_NETWORK_SUBPROCESS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace vmmap::network {

struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0] is an absolute path
  std::vector<std::string> env;   // "KEY=value"; nothing is inherited
  std::string stdin_bytes;
  // When set, the child joins this network namespace (a path such as
  // /run/netns/NAME) before exec.
  std::string netns_path;
  absl::Duration timeout = absl::Minutes(1);
  size_t max_output_bytes = 1 << 20;  // per stream
};

struct ProcessResult {
  int exit_code = 0;  // 128 + signal when killed by a signal
  std::string stdout_bytes;
  std::string stderr_bytes;
};

// Fails only when the program could not run to completion: not executable
// (FailedPrecondition), timeout (DeadlineExceeded, the child is killed),
// output over the bound (ResourceExhausted, the child is killed). A non-zero
// exit is a result, not an error.
absl::StatusOr<ProcessResult> RunProcess(const ProcessSpec& spec);

// Runs and requires exit code 0; the error names the program and carries
// its stderr.
absl::StatusOr<std::string> RunChecked(const ProcessSpec& spec);

}  // namespace vmmap::network

#endif  // VMMAP_SERVER_NETWORK_SUBPROCESS_H_
