// How list and map fields are stored in one SQLite column: each string as
// "<decimal length>:<bytes>", one after another (a map as key, value, key,
// value… in key order). Binary-safe, and decoding is strict: anything that
// is not exactly this encoding is an error, never a shorter list.
#ifndef VMMAP_SERVER_STATE_FIELD_CODEC_H_
#define VMMAP_SERVER_STATE_FIELD_CODEC_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/state/records.h"

namespace vmmap::state_internal {

std::string EncodeStrings(const std::vector<std::string>& items);
std::string EncodeStringMap(const StringMap& map);
// InvalidArgument describing the first malformed byte.
absl::StatusOr<std::vector<std::string>> DecodeStrings(absl::string_view bytes);
absl::StatusOr<StringMap> DecodeStringMap(absl::string_view bytes);

}  // namespace vmmap::state_internal

#endif  // VMMAP_SERVER_STATE_FIELD_CODEC_H_
