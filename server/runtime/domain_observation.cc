#include "server/runtime/domain_observation.h"

#include "absl/strings/str_cat.h"

namespace vmmap {
namespace {
// libvirt's VIR_DOMAIN_SHUTOFF_CRASHED (virDomainShutoffReason): QEMU went
// away without the guest shutting down. (No libvirt header in this room.)
constexpr int kShutoffReasonCrashed = 3;
}  // namespace

std::optional<ContainerRecord> ObserveDomain(const ContainerRecord& record,
                                             const absl::StatusOr<virt::DomainStatus>& status,
                                             int64_t now_ns) {
  if (record.pending || record.state == ContainerState::kExited ||
      record.state == ContainerState::kUnknown) {
    return std::nullopt;
  }
  ContainerRecord updated = record;
  if (absl::IsNotFound(status.status())) {
    updated.state = ContainerState::kExited;
    updated.exit_code = 255;
    updated.reason = "DomainVanished";
    updated.message = absl::StrCat("libvirt domain ", record.domain_name, " no longer exists");
  } else if (!status.ok()) {
    return std::nullopt;
  } else if (record.state == ContainerState::kRunning &&
             (status->state == virt::PowerState::kShutoff ||
              status->state == virt::PowerState::kCrashed)) {
    const bool crashed = status->state == virt::PowerState::kCrashed;
    updated.state = ContainerState::kExited;
    if (!crashed && status->reason == kShutoffReasonCrashed) {
      // Seen on the filled node (docs/capacity.md): an OOM-killed QEMU is a
      // shutoff domain, and was reported as a guest that completed.
      updated.exit_code = 137;
      updated.reason = "QemuKilled";
      updated.message =
          "QEMU exited under a running guest (libvirt: shut off, crashed): killed, e.g. by the "
          "OOM killer when the VM reached its memory hard_limit, or crashed; see the domain's "
          "QEMU log and the kernel log";
    } else {
      updated.exit_code = crashed ? 1 : 0;
      updated.reason = crashed ? "Crashed" : "Completed";
      updated.message = crashed ? "the guest crashed" : "the guest powered off";
    }
  } else {
    return std::nullopt;
  }
  updated.finished_at_ns = now_ns;
  return updated;
}

}  // namespace vmmap
