// Internal: streams a reference (file:// or http(s)://) into an fd while
// hashing it.
#ifndef VMMAP_SERVER_IMAGES_FETCH_H_
#define VMMAP_SERVER_IMAGES_FETCH_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace vmmap::images_internal {

enum class Scheme { kFile, kHttp };

struct ParsedReference {
  Scheme scheme = Scheme::kFile;
  std::string path;  // kFile: the absolute path
};

// Checks the reference's syntax: file:// with an absolute path (no NUL, no
// "..", an optional "localhost" host), or http:// / https:// with a host.
// InvalidArgument otherwise.
absl::StatusOr<ParsedReference> ParseReference(const std::string& reference);

struct FetchResult {
  std::string sha256_hex;
  uint64_t size = 0;
};

struct FetchLimits {
  uint64_t max_bytes = 0;           // ResourceExhausted beyond this
  absl::Time deadline;              // DeadlineExceeded after this
  std::string file_import_root;     // file:// only below it; empty: refused
  std::function<bool()> abandoned;  // true: stop with Cancelled; may be empty
};

// Appends the referenced bytes to `out_fd` (a fresh temp file), hashing them
// as they are written. Progress goes to stderr for transfers over 64 MiB.
// A file:// path is opened first and then checked (through /proc/self/fd)
// to lie below the import root, so no symlink swap can escape it.
absl::StatusOr<FetchResult> Fetch(const std::string& reference, const ParsedReference& parsed,
                                  const FetchLimits& limits, int out_fd);

// The errors every transfer uses when it crosses a limit.
absl::Status TooLargeError(const std::string& reference, uint64_t max_bytes);
absl::Status TooSlowError(const std::string& reference);

}  // namespace vmmap::images_internal

#endif  // VMMAP_SERVER_IMAGES_FETCH_H_
