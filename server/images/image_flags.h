// The image store's command-line flags for `vmmap serve`.
#ifndef VMMAP_SERVER_IMAGES_IMAGE_FLAGS_H_
#define VMMAP_SERVER_IMAGES_IMAGE_FLAGS_H_

#include <string>

#include "absl/status/status.h"
#include "server/images/image_store.h"

namespace vmmap {

// If `flag` is an image flag, parses `value` into `options` and sets
// *consumed; a bad value is InvalidArgument naming the flag and the value.
absl::Status ParseImageFlag(const std::string& flag, const std::string& value,
                            ImageStoreOptions& options, bool* consumed);

// Help lines for the image flags.
const char* ImageFlagsHelp();

}  // namespace vmmap

#endif  // VMMAP_SERVER_IMAGES_IMAGE_FLAGS_H_
