// ExecSync inside a pod's VM: a command run by qemu-guest-agent
// (guest-exec with captured output), polled with guest-exec-status until it
// exits, the caller's timeout passes, or the caller goes away.
//
// Why libvirt's virDomainQemuAgentCommand and not our own socket client:
// libvirt already connects to the channel named org.qemu.guest_agent.0 and a
// virtio-serial port has one reader, so a second client would race it; and
// libvirt tracks whether the guest opened the port (VSERPORT_CHANGE), which
// is what lets a guest without an agent answer FailedPrecondition at once
// instead of after a timeout. It works the same over qemu:///embed and
// qemu:///system. vmmap still chooses the socket's path (the domain XML's
// <channel><source path>, under the state dir), never the pod.
#ifndef VMMAP_SERVER_GUEST_GUEST_EXEC_H_
#define VMMAP_SERVER_GUEST_GUEST_EXEC_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "server/virt/hypervisor.h"

namespace vmmap::guest {

struct ExecResult {
  std::string stdout_bytes;  // each stream at most kMaxStreamBytes (qga_protocol.h)
  std::string stderr_bytes;
  int32_t exit_code = 0;
};

// Runs argv (argv[0] is looked up in the agent's PATH) in `domain`'s guest.
// timeout_seconds 0 means no limit but the caller's (`cancelled`).
// Codes: FailedPrecondition when the guest has no agent or the agent refuses
// guest-exec (e.g. RHEL's allow-list) or cannot start the command;
// DeadlineExceeded when the command has not exited within timeout_seconds
// (what kubelet turns into a timed-out probe); Cancelled when `cancelled`
// says the caller went away; DataLoss for a reply that does not parse.
// On a timeout the guest process is sent SIGKILL through the agent, best
// effort (qemu-ga has no kill command; `kill` must exist in the guest).
absl::StatusOr<ExecResult> ExecInGuest(virt::Hypervisor& hypervisor, std::string_view domain,
                                       const std::vector<std::string>& argv,
                                       int64_t timeout_seconds,
                                       const std::function<bool()>& cancelled);

}  // namespace vmmap::guest

#endif  // VMMAP_SERVER_GUEST_GUEST_EXEC_H_
