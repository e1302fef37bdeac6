#include "server/virt/hypervisor.h"

#include "absl/strings/str_cat.h"

namespace vmmap::virt {

std::string_view PowerStateName(PowerState state) {
  switch (state) {
    case PowerState::kRunning:
      return "running";
    case PowerState::kPaused:
      return "paused";
    case PowerState::kShutoff:
      return "shutoff";
    case PowerState::kCrashed:
      return "crashed";
    case PowerState::kOther:
      break;
  }
  return "other";
}

absl::StatusOr<std::string> Hypervisor::AgentCommand(std::string_view name,
                                                     std::string_view /*command_json*/,
                                                     int /*timeout_seconds*/) {
  return absl::UnimplementedError(absl::StrCat("guest agent of domain \"", std::string(name),
                                               "\": this hypervisor has no guest agents"));
}

}  // namespace vmmap::virt
