#include "server/state_dir.h"

#include <sys/stat.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/base/errno_status.h"
#include "server/base/files.h"

namespace vmmap {

absl::Status PrepareStateDir(const std::string& state_dir, bool qemu_may_run_as_other_user) {
  if (state_dir.empty() || state_dir[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("--state-dir \"", state_dir, "\": not absolute"));
  }
  for (const char* sub : {"/containers", "/images"}) {
    if (absl::Status s = MakeDirectories(state_dir + sub, 0711); !s.ok()) return s;
  }
  if (::chmod(state_dir.c_str(), 0711) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("chmod 0711 ", state_dir));
  }
  if (!qemu_may_run_as_other_user) return absl::OkStatus();
  // Every ancestor, from the state directory's parent up to "/".
  std::string dir = state_dir;
  while (true) {
    const size_t slash = dir.rfind('/');
    if (slash == std::string::npos) break;
    dir = slash == 0 ? "/" : dir.substr(0, slash);
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) return ErrnoToStatus(errno, absl::StrCat("stat ", dir));
    if ((st.st_mode & S_IXOTH) == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "state directory ", state_dir, ": its ancestor ", dir, " (mode ",
          absl::StrFormat("%04o", st.st_mode & 07777),
          ") does not let other users traverse it, and QEMU may run as another user "
          "(libvirt-qemu) that must reach the files below it; every start of a container "
          "would fail with \"Permission denied\". Fix: chmod o+x ",
          dir, ", or use a state directory below a traversable path such as /var/lib/vmmap"));
    }
    if (dir == "/") break;
  }
  return absl::OkStatus();
}

}  // namespace vmmap
