// The qemu-guest-agent commands vmmap sends, as pure functions from typed
// values to QGA JSON and back (no I/O): guest-exec and guest-exec-status
// (qemu/qga/qapi-schema.json). Every parse failure is DataLoss naming the
// field, since the bytes come from the guest, which vmmap does not trust.
#ifndef VMMAP_SERVER_GUEST_QGA_PROTOCOL_H_
#define VMMAP_SERVER_GUEST_QGA_PROTOCOL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmmap::guest {

// The most output of one stream vmmap returns: stdout and stderr together
// stay below kubelet's 16 MiB gRPC message limit. (qemu-ga itself keeps at
// most 16 MiB per stream and says when it cut.)
inline constexpr size_t kMaxStreamBytes = size_t{8} << 20;

// {"execute":"guest-exec","arguments":{"path":argv[0],"arg":argv[1..],
// "capture-output":true}}. argv must not be empty (checked by the caller).
std::string GuestExecRequest(const std::vector<std::string>& argv);
// The "pid" of guest-exec's reply.
absl::StatusOr<int64_t> ParseGuestExecReply(absl::string_view reply);

std::string GuestExecStatusRequest(int64_t pid);

struct GuestExecStatus {
  bool exited = false;
  // The exit code, or 128 + signal for a process killed by a signal (what a
  // shell and runc report).
  int32_t exit_code = 0;
  std::string stdout_bytes;  // decoded, at most kMaxStreamBytes
  std::string stderr_bytes;
  bool stdout_truncated = false;  // by qemu-ga or by vmmap's bound
  bool stderr_truncated = false;
};
absl::StatusOr<GuestExecStatus> ParseGuestExecStatusReply(absl::string_view reply);

}  // namespace vmmap::guest

#endif  // VMMAP_SERVER_GUEST_QGA_PROTOCOL_H_
