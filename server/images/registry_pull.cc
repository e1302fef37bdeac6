#include "server/base/errno_status.h"
#include "server/images/registry_pull.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "server/images/fetch.h"
#include "server/images/fs_util.h"
#include "server/images/oci_manifest.h"

namespace vmmap::images_internal {
namespace {

constexpr size_t kMaxConfig = 4 << 20;

}  // namespace

absl::StatusOr<RegistryPullResult> PullFromRegistry(const RegistryPullRequest& request) {
  const std::string what = request.ref.Canonical();
  RegistryClient client(request.ref, request.auth, request.plain_http, request.deadline,
                        request.abandoned, what);
  RegistryPullResult result;
  const std::string& first = request.ref.digest.empty() ? request.ref.tag : request.ref.digest;
  absl::StatusOr<FetchedManifest> fetched = client.GetManifest(first);
  if (!fetched.ok()) return fetched.status();
  result.manifest_digest = fetched->digest;
  absl::StatusOr<Manifest> manifest = ParseManifest(fetched->body, fetched->content_type, what);
  if (!manifest.ok()) return manifest.status();
  if (manifest->is_index) {
    absl::StatusOr<Descriptor> chosen = PickLinuxAmd64(*manifest, what);
    if (!chosen.ok()) return chosen.status();
    fetched = client.GetManifest(chosen->digest);
    if (!fetched.ok()) return fetched.status();
    manifest = ParseManifest(fetched->body, fetched->content_type, what);
    if (!manifest.ok()) return manifest.status();
    if (manifest->is_index) {
      return absl::InvalidArgumentError(
          absl::StrCat("image ", what,
                       ": the linux/amd64 entry of its index is another "
                       "index"));
    }
  }
  uint64_t total = manifest->config.size;
  for (const Descriptor& layer : manifest->layers) {
    if (layer.size > request.max_bytes || total > request.max_bytes - layer.size) {
      return TooLargeError(what, request.max_bytes);
    }
    total += layer.size;
  }
  result.size = total;
  result.config_digest = manifest->config.digest;
  // The config is verified against its digest (the image id); vmmap reads
  // nothing else from it.
  absl::StatusOr<std::string> config = client.GetSmallBlob(manifest->config, kMaxConfig);
  if (!config.ok()) return config.status();

  const std::string stage = absl::StrCat(request.work_dir, "/files");
  if (mkdir(stage.c_str(), 0700) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("mkdir ", stage));
  }
  LayerView view(stage, request.max_bytes, what);
  for (size_t i = 0; i < manifest->layers.size(); ++i) {
    const Descriptor& layer = manifest->layers[i];
    std::string path = absl::StrCat(request.work_dir, "/layer");
    UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoToStatus(errno, absl::StrCat("create ", path));
    absl::Status s = client.DownloadBlob(layer, fd.get());
    if (s.ok()) s = view.ApplyLayer(fd.get(), layer.digest);
    unlink(path.c_str());
    if (!s.ok()) return s;
  }
  absl::StatusOr<VmImageFiles> files = view.Classify();
  if (!files.ok()) return files.status();
  result.files = *files;
  return result;
}

}  // namespace vmmap::images_internal
