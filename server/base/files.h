// File helpers for the server: one way each to read a file, write one
// atomically, and create a directory path. None follows a symlink in the last
// component where that could redirect a write, none throws.
#ifndef VMMAP_SERVER_BASE_FILES_H_
#define VMMAP_SERVER_BASE_FILES_H_

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmmap {

// Reads the whole file (at most `max_bytes`: ResourceExhausted beyond, so a
// file that grows without bound cannot exhaust memory). O_NOFOLLOW: a symlink
// is InvalidArgument. Errors name the path.
absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes = 1 << 20);

// Writes `content` to a temporary file next to `path` (mode `mode`), fsyncs
// it, renames it over `path` and fsyncs the directory: readers see the old
// or the new content, never a part.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view content,
                                 mode_t mode = 0600);

// Writes `content` to an existing file in place (cgroup and /proc knobs,
// which cannot be replaced by rename).
absl::Status WriteExistingFile(const std::string& path, absl::string_view content);

// mkdir -p: creates missing directories with `mode` (existing ones keep
// theirs). A component that exists and is not a directory is
// FailedPrecondition.
absl::Status MakeDirectories(const std::string& path, mode_t mode = 0700);

}  // namespace vmmap

#endif  // VMMAP_SERVER_BASE_FILES_H_
