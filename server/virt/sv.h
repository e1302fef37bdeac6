// std::string_view <-> absl::string_view bridging for server/virt internals.
//
// Debian's abseil 20220623 is built with ABSL_OPTION_USE_STD_STRING_VIEW=0,
// so absl::string_view is a distinct type with no conversion from
// std::string_view. The public API speaks std::string_view (plain C++17);
// these helpers convert at the boundary without copying.

#ifndef VMMAP_SERVER_VIRT_SV_H_
#define VMMAP_SERVER_VIRT_SV_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace vmmap::virt {

inline absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

inline std::string_view ToStd(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace vmmap::virt

#endif  // VMMAP_SERVER_VIRT_SV_H_
