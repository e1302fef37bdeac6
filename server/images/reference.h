// Docker image references, normalised as containerd does
// (github.com/distribution/reference ParseNormalizedNamed):
//   busybox                       -> docker.io/library/busybox:latest
//   team/vm:1.2                   -> docker.io/team/vm:1.2
//   host:5000/team/vm:1.2         -> host:5000/team/vm:1.2
//   vm@sha256:<64 hex>            -> docker.io/library/vm@sha256:<64 hex>
// Pure: no I/O.
#ifndef VMMAP_SERVER_IMAGES_REFERENCE_H_
#define VMMAP_SERVER_IMAGES_REFERENCE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmmap::images_internal {

struct ImageReference {
  std::string domain;  // "docker.io", "host:5000", "localhost", "[::1]:5000"
  std::string path;    // "library/busybox", "team/vm"
  std::string tag;     // "latest" when neither tag nor digest was given
  std::string digest;  // "sha256:<64 hex>" or empty

  // domain/path
  std::string Name() const;
  // Name():tag, or Name()@digest when there is a digest (what is pulled).
  std::string Canonical() const;
  // Name():tag if there is a tag, else empty.
  std::string TagRef() const;
  // The registry host to connect to (docker.io is registry-1.docker.io).
  std::string RegistryHost() const;
};

// True for strings that are URLs vmmap fetches directly (file://, http://,
// https://) rather than docker references.
bool IsUrlReference(absl::string_view reference);

// InvalidArgument naming the reference and the rule it breaks: uppercase in
// the repository path, an empty component, a bad tag or digest, a name
// longer than 255 characters.
absl::StatusOr<ImageReference> ParseImageReference(absl::string_view reference);

}  // namespace vmmap::images_internal

#endif  // VMMAP_SERVER_IMAGES_REFERENCE_H_
