#include "server/volumes/share_views.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "server/base/errno_status.h"
#include "server/base/files.h"

namespace vmmap::volumes {
namespace {

namespace fs = std::filesystem;

// The mount index in the share's tag ("vol3" → 3), for messages.
std::string MountName(const SharedDirectory& share) {
  return absl::StrCat("mounts[", share.tag.substr(3), "]");
}

absl::StatusOr<std::string> RealPath(const std::string& path) {
  std::unique_ptr<char, decltype(&free)> resolved(realpath(path.c_str(), nullptr), &free);
  if (!resolved) return ErrnoToStatus(errno, path);
  return std::string(resolved.get());
}

// Unmounts everything stacked at `path` (a view is one bind mount, but a
// retried MountViews after a crash may have stacked two).
absl::Status UnmountAll(const std::string& path) {
  for (int i = 0; i < 16; ++i) {
    if (umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) continue;
    if (errno == EINVAL || errno == ENOENT) return absl::OkStatus();  // not (or no longer) mounted
    return ErrnoToStatus(errno, absl::StrCat("unmounting the volume view ", path));
  }
  return absl::UnavailableError(absl::StrCat("the volume view ", path, " is still mounted"));
}

absl::Status MountView(const ShareView& view) {
  if (mkdir(view.view_path.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoToStatus(errno, absl::StrCat("creating the volume view ", view.view_path));
  }
  if (mount(view.host_path.c_str(), view.view_path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) !=
      0) {
    return ErrnoToStatus(errno,
                         absl::StrCat("bind-mounting ", view.host_path, " at ", view.view_path));
  }
  // Mounts kubelet makes below the volume later reach the view, never the
  // other way round (a VM has no way to propagate its mounts anyway).
  mount(nullptr, view.view_path.c_str(), nullptr, MS_REC | MS_SLAVE, nullptr);
  if (view.read_only) {
    struct mount_attr attr = {};
    attr.attr_set = MOUNT_ATTR_RDONLY;
    if (mount_setattr(AT_FDCWD, view.view_path.c_str(), AT_RECURSIVE, &attr, sizeof attr) != 0) {
      absl::Status s = ErrnoToStatus(
          errno, absl::StrCat("making the volume view ", view.view_path, " read-only"));
      UnmountAll(view.view_path).IgnoreError();
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string ViewsRoot(const std::string& state_dir) { return absl::StrCat(state_dir, "/volumes"); }

std::string ContainerViewsDir(const std::string& state_dir, const std::string& container_id) {
  return absl::StrCat(ViewsRoot(state_dir), "/", container_id);
}

absl::StatusOr<ResolvedShares> ResolveShares(std::vector<SharedDirectory> planned,
                                             const std::string& state_dir,
                                             const std::string& container_id) {
  ResolvedShares out;
  const std::string dir = ContainerViewsDir(state_dir, container_id);
  for (SharedDirectory& share : planned) {
    absl::StatusOr<std::string> host = RealPath(share.source_dir);
    if (!host.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          MountName(share), ".host_path \"", share.source_dir, "\": ", host.status().message()));
    }
    struct stat st;
    if (stat(host->c_str(), &st) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(MountName(share), ".host_path \"",
                                                     share.source_dir, "\": ", strerror(errno)));
    }
    if (!S_ISDIR(st.st_mode)) {
      out.skipped.push_back(absl::StrCat(
          MountName(share), " ", share.source_dir, " -> ", share.guest_path,
          " is not a directory; vmmap shares directories only, this mount is not in the guest"));
      continue;
    }
    ShareView view{*host, absl::StrCat(dir, "/", share.tag), share.read_only};
    share.source_dir = view.view_path;
    out.views.push_back(std::move(view));
    out.shares.push_back(std::move(share));
  }
  return out;
}

absl::Status MountViews(const std::vector<ShareView>& views, const std::string& state_dir,
                        const std::string& container_id) {
  if (views.empty()) return absl::OkStatus();
  if (absl::Status s = MakeDirectories(ContainerViewsDir(state_dir, container_id), 0711); !s.ok()) {
    return s;
  }
  for (const ShareView& view : views) {
    if (absl::Status s = MountView(view); !s.ok()) {
      ReleaseViews(state_dir, container_id).IgnoreError();
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status ReleaseViews(const std::string& state_dir, const std::string& container_id) {
  const std::string dir = ContainerViewsDir(state_dir, container_id);
  absl::Status first;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return absl::OkStatus();
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string view = it->path().string();
    absl::Status s = UnmountAll(view);
    // rmdir, never a recursive delete: a view still mounted keeps its data.
    if (s.ok() && rmdir(view.c_str()) != 0 && errno != ENOENT) {
      s = ErrnoToStatus(errno, absl::StrCat("removing the volume view ", view));
    }
    if (!s.ok() && first.ok()) first = s;
  }
  if (ec && first.ok()) first = ErrnoToStatus(ec.value(), absl::StrCat("listing ", dir));
  if (first.ok() && rmdir(dir.c_str()) != 0 && errno != ENOENT) {
    first = ErrnoToStatus(errno, absl::StrCat("removing ", dir));
  }
  if (!first.ok()) {
    return absl::UnavailableError(
        absl::StrCat("container ", container_id, ": its volume views remain: ", first.message()));
  }
  return absl::OkStatus();
}

std::vector<std::string> ContainersWithViews(const std::string& state_dir) {
  std::vector<std::string> ids;
  std::error_code ec;
  fs::directory_iterator it(ViewsRoot(state_dir), ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    ids.push_back(it->path().filename().string());
  }
  return ids;
}

}  // namespace vmmap::volumes
