#include "server/network/nocloud_image.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "server/base/errno_status.h"
#include "server/base/files.h"
#include "server/network/subprocess.h"

namespace vmmap::network {

namespace fs = std::filesystem;

absl::Status WriteNoCloudImage(const NoCloudSeed& seed, const std::string& image_path,
                               const std::string& xorriso) {
  std::error_code ec;
  if (fs::symlink_status(image_path, ec).type() != fs::file_type::not_found) {
    return absl::FailedPreconditionError(absl::StrCat("NoCloud seed ", image_path, " exists"));
  }
  if (access(xorriso.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("NoCloud seed: ", xorriso, " is missing (apt-get install xorriso)"));
  }
  const std::string staging = absl::StrCat(image_path, ".d");
  fs::remove_all(staging, ec);
  absl::Status status = MakeDirectories(staging, 0700);
  if (status.ok()) status = WriteFileAtomically(staging + "/meta-data", seed.meta_data, 0600);
  if (status.ok() && !seed.network_config.empty()) {
    status = WriteFileAtomically(staging + "/network-config", seed.network_config, 0600);
  }
  if (status.ok()) status = WriteFileAtomically(staging + "/user-data", seed.user_data, 0600);
  if (status.ok()) {
    ProcessSpec spec;
    spec.argv = {xorriso,  "-as",    "mkisofs", "-quiet", "-output", image_path,
                 "-volid", "cidata", "-joliet", "-rock",  staging};
    spec.env = {"PATH=/usr/bin:/bin"};
    status = RunChecked(spec).status();
  }
  if (status.ok() && chmod(image_path.c_str(), 0600) != 0) {
    status = ErrnoToStatus(errno, absl::StrCat("chmod ", image_path));
  }
  fs::remove_all(staging, ec);
  if (!status.ok()) fs::remove(image_path, ec);
  return status;
}

}  // namespace vmmap::network
