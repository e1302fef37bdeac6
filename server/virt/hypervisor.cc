#include "server/virt/hypervisor.h"

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

}  // namespace vmmap::virt
