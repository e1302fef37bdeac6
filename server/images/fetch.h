// Internal: streams a reference (file:// or http(s)://) into an fd while
// hashing it.
#ifndef VMMAP_SERVER_IMAGES_FETCH_H_
#define VMMAP_SERVER_IMAGES_FETCH_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

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

// Appends the referenced bytes to `out_fd` (a fresh temp file), hashing them
// as they are written. Progress goes to stderr for transfers over 64 MiB.
absl::StatusOr<FetchResult> Fetch(const std::string& reference,
                                  const ParsedReference& parsed, int out_fd);

}  // namespace vmmap::images_internal

#endif  // VMMAP_SERVER_IMAGES_FETCH_H_
