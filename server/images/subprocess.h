// Internal: runs a helper program (qemu-img) without a shell, with a deadline
// and bounded output, so a hostile input file can neither hang the caller nor
// fill its memory.
#ifndef VMMAP_SERVER_IMAGES_SUBPROCESS_H_
#define VMMAP_SERVER_IMAGES_SUBPROCESS_H_

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace vmmap::images_internal {

struct ProgramOutput {
  std::string out;  // stdout, at most `max_output` bytes
  std::string err;  // stderr, at most `max_output` bytes
};

// Runs args[0] (looked up in PATH if it has no '/') with stdin on /dev/null.
// Ok only if it exits 0. Internal with its stderr if it exits non-zero or
// cannot run; DeadlineExceeded if it is still running after `timeout` (it is
// then killed and reaped); InvalidArgument if it writes more than
// `max_output` bytes to either stream (killed too).
absl::StatusOr<ProgramOutput> RunProgram(const std::vector<std::string>& args,
                                         std::chrono::milliseconds timeout, size_t max_output);

}  // namespace vmmap::images_internal

#endif  // VMMAP_SERVER_IMAGES_SUBPROCESS_H_
