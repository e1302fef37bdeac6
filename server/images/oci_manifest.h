// Internal: OCI / Docker schema 2 manifests and indexes (pure parsing of
// untrusted JSON; no I/O).
#ifndef VMMAP_SERVER_IMAGES_OCI_MANIFEST_H_
#define VMMAP_SERVER_IMAGES_OCI_MANIFEST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmmap::images_internal {

// The Accept header value for manifest requests: every type ParseManifest
// understands.
extern const char kManifestAccept[];

struct Descriptor {
  std::string media_type;
  std::string digest;  // "sha256:<64 hex>" (other algorithms are refused)
  uint64_t size = 0;
  std::string os, architecture, variant;  // index entries only
};

struct Manifest {
  bool is_index = false;
  Descriptor config;                  // image manifests
  std::vector<Descriptor> layers;     // image manifests, base layer first
  std::vector<Descriptor> manifests;  // indexes
};

// Parses an image manifest or an index. The kind comes from the body's
// mediaType, else from `content_type`. InvalidArgument naming `what` and the
// field for malformed or unsupported documents (schema 1, unknown layer
// media types, non-sha256 digests, more than 128 layers).
absl::StatusOr<Manifest> ParseManifest(absl::string_view body, absl::string_view content_type,
                                       const std::string& what);

// The index entry for linux/amd64 (NotFound naming the platforms offered).
absl::StatusOr<Descriptor> PickLinuxAmd64(const Manifest& index, const std::string& what);

// True for "sha256:<64 lowercase hex>".
bool IsSha256Digest(absl::string_view digest);

}  // namespace vmmap::images_internal

#endif  // VMMAP_SERVER_IMAGES_OCI_MANIFEST_H_
