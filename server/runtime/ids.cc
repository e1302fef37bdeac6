#include "server/runtime/ids.h"

#include <random>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace vmmap {

std::string NewObjectId() {
  std::random_device random;  // /dev/urandom on Linux
  std::string id;
  for (int i = 0; i < 8; ++i) absl::StrAppendFormat(&id, "%08x", random());
  return id;
}

int64_t NowNanos() { return absl::GetCurrentTimeNanos(); }

}  // namespace vmmap
