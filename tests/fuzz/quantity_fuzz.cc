// Kubernetes quantities are pod-author input: any byte string must give a
// value or an InvalidArgument that quotes the field, never a crash, a hang or
// undefined behaviour. A parsed value must survive both conversions' checks.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "mapper/quantity.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<vmmap::Quantity> q = vmmap::Quantity::Parse(text, "fuzz.field");
  if (!q.ok()) {
    if (q.status().code() != absl::StatusCode::kInvalidArgument ||
        !absl::StrContains(q.status().message(), "fuzz.field")) {
      abort();  // an error that does not name the field, or of the wrong kind
    }
    return 0;
  }
  for (const absl::StatusOr<int64_t>& v : {q->Milli(), q->Units()}) {
    if (v.ok() && *v < 0) abort();  // negative values must be refused, not wrapped
  }
  return 0;
}
