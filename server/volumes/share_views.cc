#include "server/volumes/share_views.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>

#include "absl/strings/str_cat.h"
#include "mapper/annotations.h"
#include "mapper/shared_dirs.h"
#include "server/base/errno_status.h"
#include "server/base/files.h"
#include "server/volumes/host_paths.h"

namespace vmmap::volumes {
namespace {

namespace fs = std::filesystem;

// The mount index in a tag ("vol3" -> 3), for messages.
std::string MountName(const std::string& tag) {
  return absl::StrCat("mounts[", tag.substr(3), "]");
}

// The host path as InspectHostPath sees it, refused when it is no longer
// the kind the plan was made for (changed on the host since ClassifyHostPaths).
absl::StatusOr<std::string> ResolveAs(const std::string& tag, const std::string& host_path,
                                      HostPathKind planned) {
  absl::StatusOr<HostPath> path = InspectHostPath(MountName(tag), host_path);
  if (!path.ok()) return path.status();
  if (path->kind != planned) {
    return absl::AbortedError(
        absl::StrCat(MountName(tag), ".host_path ", QuoteValue(host_path), " is now a ",
                     path->kind == HostPathKind::kFile ? "file" : "directory",
                     "; it changed on the host while the container was created (retry)"));
  }
  return path->resolved;
}

std::string FilesDir(const std::string& state_dir, const std::string& container_id) {
  return absl::StrCat(ContainerViewsDir(state_dir, container_id), "/", kFilesShareTag);
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

absl::Status ReadOnly(const std::string& path, unsigned int flags, const std::string& what) {
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_RDONLY;
  if (mount_setattr(AT_FDCWD, path.c_str(), flags, &attr, sizeof attr) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("making ", what, " ", path, " read-only"));
  }
  return absl::OkStatus();
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
    if (absl::Status s = ReadOnly(view.view_path, AT_RECURSIVE, "the volume view"); !s.ok()) {
      UnmountAll(view.view_path).IgnoreError();
      return s;
    }
  }
  return absl::OkStatus();
}

// The files share's directory: placeholders first (the directory is still
// writable), then its read-only bind of itself (private: the file binds
// below it propagate nowhere), then each file bound onto its placeholder.
absl::Status MountFileViews(const std::vector<ShareView>& views, const std::string& dir) {
  // 0755: QEMU's 9p server runs as libvirt-qemu, not root.
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoToStatus(errno, absl::StrCat("creating the file views' directory ", dir));
  }
  if (chmod(dir.c_str(), 0755) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("setting the mode of ", dir));
  }
  for (const ShareView& view : views) {
    const int fd = open(view.view_path.c_str(),
                        O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (fd < 0) {
      return ErrnoToStatus(errno, absl::StrCat("creating the placeholder ", view.view_path));
    }
    close(fd);
  }
  if (mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("bind-mounting ", dir, " onto itself"));
  }
  mount(nullptr, dir.c_str(), nullptr, MS_PRIVATE, nullptr);
  if (absl::Status s = ReadOnly(dir, 0, "the file views' directory"); !s.ok()) return s;
  for (const ShareView& view : views) {
    if (mount(view.host_path.c_str(), view.view_path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      return ErrnoToStatus(errno,
                           absl::StrCat("bind-mounting ", view.host_path, " at ", view.view_path));
    }
    mount(nullptr, view.view_path.c_str(), nullptr, MS_PRIVATE, nullptr);
    if (view.read_only) {
      if (absl::Status s = ReadOnly(view.view_path, 0, "the file view"); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

// Releases every entry of `dir`, then rmdirs the (now empty) directory.
// The first error wins and keeps the directory. Nothing there: OK.
absl::Status ReleaseEachThenRemove(const std::string& dir,
                                   const std::function<absl::Status(const fs::path&)>& release) {
  absl::Status first;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return absl::OkStatus();
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (absl::Status s = release(it->path()); !s.ok() && first.ok()) first = s;
  }
  if (ec && first.ok()) first = ErrnoToStatus(ec.value(), absl::StrCat("listing ", dir));
  if (first.ok() && rmdir(dir.c_str()) != 0 && errno != ENOENT) {
    first = ErrnoToStatus(errno, absl::StrCat("removing ", dir));
  }
  return first;
}

// A placeholder of the files directory, once nothing is mounted on it.
absl::Status ReleasePlaceholder(const fs::path& path) {
  const std::string placeholder = path.string();
  // A file bound without the directory's bind (a crash in MountViews).
  if (absl::Status s = UnmountAll(placeholder); !s.ok()) return s;
  struct stat st;
  if (lstat(placeholder.c_str(), &st) != 0) return absl::OkStatus();
  // Only what vmmap made: an empty regular file nothing is mounted on.
  if (!S_ISREG(st.st_mode) || st.st_size != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(placeholder, " is not an empty placeholder file; left in place for a look"));
  }
  if (unlink(placeholder.c_str()) != 0 && errno != ENOENT) {
    return ErrnoToStatus(errno, absl::StrCat("removing the placeholder ", placeholder));
  }
  return absl::OkStatus();
}

// A directory view: unmounted, then rmdir'ed, never a recursive delete (a
// view still mounted keeps its data). The files directory: its read-only
// bind first (the file binds below it go with it), then its placeholders.
absl::Status ReleaseView(const fs::path& path) {
  const std::string view = path.string();
  if (absl::Status s = UnmountAll(view); !s.ok()) return s;
  if (path.filename() == kFilesShareTag) return ReleaseEachThenRemove(view, ReleasePlaceholder);
  if (rmdir(view.c_str()) != 0 && errno != ENOENT) {
    return ErrnoToStatus(errno, absl::StrCat("removing the volume view ", view));
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
  std::vector<ShareView> file_views;
  for (SharedDirectory& share : planned) {
    if (share.tag == kFilesShareTag) {
      for (SharedFile& file : share.files) {
        absl::StatusOr<std::string> host =
            ResolveAs(file.tag, file.source_file, HostPathKind::kFile);
        if (!host.ok()) return host.status();
        ShareView view{*host, absl::StrCat(FilesDir(state_dir, container_id), "/", file.tag),
                       file.read_only, /*file=*/true};
        file.source_file = view.view_path;
        file_views.push_back(std::move(view));
      }
      share.source_dir = FilesDir(state_dir, container_id);
      out.shares.push_back(std::move(share));
      continue;
    }
    absl::StatusOr<std::string> host =
        ResolveAs(share.tag, share.source_dir, HostPathKind::kDirectory);
    if (!host.ok()) return host.status();
    ShareView view{*host, absl::StrCat(dir, "/", share.tag), share.read_only};
    share.source_dir = view.view_path;
    out.views.push_back(std::move(view));
    out.shares.push_back(std::move(share));
  }
  for (ShareView& view : file_views) out.views.push_back(std::move(view));
  return out;
}

absl::Status MountViews(const std::vector<ShareView>& views, const std::string& state_dir,
                        const std::string& container_id) {
  if (views.empty()) return absl::OkStatus();
  if (absl::Status s = MakeDirectories(ContainerViewsDir(state_dir, container_id), 0711); !s.ok()) {
    return s;
  }
  std::vector<ShareView> files;
  absl::Status s;
  for (const ShareView& view : views) {
    if (view.file) {
      files.push_back(view);
    } else if (s.ok()) {
      s = MountView(view);
    }
  }
  if (s.ok() && !files.empty()) s = MountFileViews(files, FilesDir(state_dir, container_id));
  if (!s.ok()) ReleaseViews(state_dir, container_id).IgnoreError();
  return s;
}

absl::Status ReleaseViews(const std::string& state_dir, const std::string& container_id) {
  absl::Status released =
      ReleaseEachThenRemove(ContainerViewsDir(state_dir, container_id), ReleaseView);
  if (!released.ok()) {
    return absl::UnavailableError(absl::StrCat("container ", container_id,
                                               ": its volume views remain: ", released.message()));
  }
  return absl::OkStatus();
}

void MarkSharedFiles(const std::string& state_dir, const std::string& container_id,
                     std::vector<VolumeMount>& mounts) {
  const std::string dir = FilesDir(state_dir, container_id);
  for (size_t i = 0; i < mounts.size(); ++i) {
    struct stat st;
    if (lstat(absl::StrCat(dir, "/vol", i).c_str(), &st) == 0) {
      mounts[i].host_kind = HostPathKind::kFile;
    }
  }
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
