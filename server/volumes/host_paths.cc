#include "server/volumes/host_paths.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "mapper/annotations.h"

namespace vmmap::volumes {
namespace {

const char* KindOf(mode_t mode) {
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISFIFO(mode)) return "a fifo";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a directory or a regular file";
}

}  // namespace

absl::StatusOr<HostPath> InspectHostPath(const std::string& name, const std::string& host_path) {
  auto refuse = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ".host_path ", QuoteValue(host_path), ": ", why));
  };
  if (host_path.empty() || host_path[0] != '/') return refuse("must be an absolute path");
  std::unique_ptr<char, decltype(&free)> resolved(realpath(host_path.c_str(), nullptr), &free);
  if (!resolved) return refuse(strerror(errno));
  HostPath out;
  out.resolved = resolved.get();
  struct stat st;
  if (stat(out.resolved.c_str(), &st) != 0) return refuse(strerror(errno));
  if (S_ISDIR(st.st_mode)) {
    out.kind = HostPathKind::kDirectory;
  } else if (S_ISREG(st.st_mode)) {
    out.kind = HostPathKind::kFile;
  } else {
    return refuse(absl::StrCat("is ", KindOf(st.st_mode),
                               "; vmmap shares only directories and regular files"));
  }
  return out;
}

absl::Status ClassifyHostPaths(std::vector<VolumeMount>& mounts) {
  for (size_t i = 0; i < mounts.size(); ++i) {
    absl::StatusOr<HostPath> path =
        InspectHostPath(absl::StrCat("mounts[", i, "]"), mounts[i].host_path);
    if (!path.ok()) return path.status();
    mounts[i].host_kind = path->kind;
  }
  return absl::OkStatus();
}

}  // namespace vmmap::volumes
