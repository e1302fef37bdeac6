// The text edit behind `vmmap annotate`: set one annotation on every pod (a
// Pod's metadata, or a workload's pod template metadata) in a YAML stream,
// changing only the bytes of that annotation — comments, ordering, quoting
// and layout of everything else stay as written. Pure: no I/O.
#ifndef VMMAP_CLI_ANNOTATE_EDIT_H_
#define VMMAP_CLI_ANNOTATE_EDIT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmmap {

// Returns `yaml` with `key: "value"` set in each pod's annotations: an
// existing entry's value is replaced, otherwise the entry is inserted (and
// `annotations:` / the template's `metadata:` created where missing).
// `key` and `value` must be plain YAML-safe text (letters, digits, . _ / -).
// InvalidArgument with line and column for input it cannot edit (e.g.
// annotations that are not a mapping, a block scalar value).
absl::StatusOr<std::string> SetPodAnnotation(absl::string_view yaml, absl::string_view key,
                                             absl::string_view value);

}  // namespace vmmap

#endif  // VMMAP_CLI_ANNOTATE_EDIT_H_
