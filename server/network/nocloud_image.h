// Writes a NoCloud seed as the volume cloud-init looks for: an ISO 9660
// image (Joliet + Rock Ridge) labelled "cidata" holding meta-data,
// network-config and user-data. Built by xorriso (Debian's `xorriso`
// package) from a staging directory: no root, no loop mount.
#ifndef VMMAP_SERVER_NETWORK_NOCLOUD_IMAGE_H_
#define VMMAP_SERVER_NETWORK_NOCLOUD_IMAGE_H_

#include <string>

#include "absl/status/status.h"
#include "server/network/nocloud_seed.h"

namespace vmmap::network {

inline constexpr char kDefaultXorriso[] = "/usr/bin/xorriso";

// Creates `image_path` (mode 0600, replacing nothing: FailedPrecondition if
// it exists) in an existing directory. The staging directory
// `image_path`.d is removed on success and failure; on failure no image is
// left either. FailedPrecondition when xorriso is missing.
absl::Status WriteNoCloudImage(const NoCloudSeed& seed, const std::string& image_path,
                               const std::string& xorriso = kDefaultXorriso);

}  // namespace vmmap::network

#endif  // VMMAP_SERVER_NETWORK_NOCLOUD_IMAGE_H_
