// Internal: the image store's index (what images exist, their kinds, tags
// and repo digests), its text format, and how references resolve in it.
// Pure: no I/O; the store persists the text.
//
// Text format, one record a line, fields separated by one space:
//   vmmap-image-index 1
//   image <hex> disk|raw|bundle <size>     ("disk" is a qcow2 disk)
//   tag <hex> <percent-escaped reference>
//   digest <hex> <percent-escaped name@sha256:...>
#ifndef VMMAP_SERVER_IMAGES_IMAGE_INDEX_H_
#define VMMAP_SERVER_IMAGES_IMAGE_INDEX_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/images/disk_inspect.h"

namespace vmmap::images_internal {

struct IndexEntry {
  bool is_bundle = false;  // a kernel (bundle or kernel image); else a disk
  DiskFormat disk_format = DiskFormat::kQcow2;
  uint64_t size_bytes = 0;
  std::vector<std::string> tags;          // each names one image at most
  std::vector<std::string> repo_digests;  // name@sha256:<manifest digest>
  // Not in the text: read from the image directory when loaded.
  bool has_initrd = false;
  std::string cmdline;
};

using IndexMap = std::map<std::string, IndexEntry>;  // keyed by hex id

// DataLoss naming `path` and the line for anything malformed.
absl::StatusOr<IndexMap> ParseIndex(absl::string_view text, const std::string& path);
std::string SerializeIndex(const IndexMap& index);

// Points `tag` at `hex`, removing it from any other image.
void AddTag(IndexMap& index, const std::string& hex, const std::string& tag);
void AddRepoDigest(IndexMap& index, const std::string& hex, const std::string& repo_digest);

struct Resolved {
  std::string hex;
  // The tag or repo digest the reference matched; empty when it matched the
  // image id or an id prefix.
  std::string matched_ref;
  bool is_digest_ref = false;  // matched_ref is a repo digest
};

// Resolves, in order: an exact tag or repo digest; the containerd
// normalisation of a docker reference (`busybox` -> docker.io/library/
// busybox:latest, name@sha256:...); the id "sha256:<hex>"; an id prefix of
// at least 12 hex digits ("sha256:" optional). NotFound if nothing matches,
// InvalidArgument if a prefix is ambiguous.
absl::StatusOr<Resolved> ResolveReference(const IndexMap& index, const std::string& reference);

}  // namespace vmmap::images_internal

#endif  // VMMAP_SERVER_IMAGES_IMAGE_INDEX_H_
