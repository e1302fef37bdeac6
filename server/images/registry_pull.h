// Internal: pulls a docker reference from its registry into a work
// directory inside the store: manifest (an index picks linux/amd64), config,
// layers (each streamed to disk, digest-verified, applied, deleted), and
// the VM image they form.
#ifndef VMMAP_SERVER_IMAGES_REGISTRY_PULL_H_
#define VMMAP_SERVER_IMAGES_REGISTRY_PULL_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/images/layer_view.h"
#include "server/images/reference.h"
#include "server/images/registry_client.h"

namespace vmmap::images_internal {

struct RegistryPullRequest {
  ImageReference ref;
  RegistryAuth auth;
  bool plain_http = false;
  absl::Time deadline;
  std::function<bool()> abandoned;  // true: stop with Cancelled; may be empty
  uint64_t max_bytes = 0;           // compressed blobs and unpacked contents
  std::string work_dir;             // empty directory inside the store
};

struct RegistryPullResult {
  std::string manifest_digest;  // of what the reference named (maybe an index)
  std::string config_digest;    // the image id
  uint64_t size = 0;            // config and layer blobs, as stored remotely
  VmImageFiles files;           // staged inside work_dir
};

absl::StatusOr<RegistryPullResult> PullFromRegistry(const RegistryPullRequest& request);

}  // namespace vmmap::images_internal

#endif  // VMMAP_SERVER_IMAGES_REGISTRY_PULL_H_
