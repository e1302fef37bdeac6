#include "server/network/netns.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "server/base/errno_status.h"

namespace vmmap::network {
namespace {

absl::Status ErrnoError(int err, absl::string_view what, absl::string_view path) {
  return vmmap::ErrnoToStatus(err, absl::StrCat(what, " ", path));
}

// Makes `dir` a shared mount point (what iproute2 does), so that namespace
// mounts under it propagate to mount namespaces created later, e.g. a
// libvirtd or kubelet started in its own mount namespace.
absl::Status PrepareRunDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoError(errno, "mkdir", dir);
  }
  if (mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) == 0) return absl::OkStatus();
  if (errno != EINVAL) return ErrnoError(errno, "mount --make-rshared", dir);
  // Not a mount point yet: bind it onto itself first.
  if (mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0) {
    return ErrnoError(errno, "mount --bind", dir);
  }
  if (mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) {
    return ErrnoError(errno, "mount --make-rshared", dir);
  }
  return absl::OkStatus();
}

// Unsharing changes only the calling thread's namespace, so a short-lived
// thread does it: the rest of vmmap never leaves the host namespace.
absl::Status MountFreshNamespaceOn(const std::string& path) {
  absl::Status result;
  std::thread worker([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      result = ErrnoError(errno, "unshare(CLONE_NEWNET) for", path);
      return;
    }
    std::string self = absl::StrCat("/proc/self/task/", syscall(SYS_gettid), "/ns/net");
    if (mount(self.c_str(), path.c_str(), "none", MS_BIND, nullptr) != 0) {
      result = ErrnoError(errno, "bind-mount a new network namespace on", path);
    }
  });
  worker.join();
  return result;
}

}  // namespace

absl::Status ValidateNetnsName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("netns name \"", name, "\": must be 1..64 bytes and not . or .."));
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("netns name \"", name, "\": only [A-Za-z0-9_.-] allowed"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CreateNetns(const std::string& dir, const std::string& name) {
  if (absl::Status s = ValidateNetnsName(name); !s.ok()) return s;
  if (absl::Status s = PrepareRunDir(dir); !s.ok()) return s;
  std::string path = absl::StrCat(dir, "/", name);
  int fd = open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat("network namespace ", path, " already exists"));
    }
    return ErrnoError(errno, "create", path);
  }
  close(fd);
  if (absl::Status s = MountFreshNamespaceOn(path); !s.ok()) {
    unlink(path.c_str());
    return s;
  }
  return path;
}

bool IsNetnsMounted(const std::string& path) {
  struct statfs fs;
  return statfs(path.c_str(), &fs) == 0 && fs.f_type == NSFS_MAGIC;
}

absl::Status RemoveNetns(const std::string& path) {
  if (umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
    return ErrnoError(errno, "unmount", path);
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError(errno, "unlink", path);
  return absl::OkStatus();
}

}  // namespace vmmap::network
