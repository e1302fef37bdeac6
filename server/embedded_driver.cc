#include "server/embedded_driver.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/base/errno_status.h"
#include "server/base/files.h"
#include "server/base/log.h"
#include "server/probe_qemus.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;

// A probe QEMU dies at once on SIGKILL; the wait only has to outlast a
// loaded machine.
constexpr std::chrono::seconds kProbeKillDeadline{60};

// libvirt saves a domain's XML (persistent config in <root>/etc/qemu, status
// in <root>/run/qemu) by writing NAME.xml.new and renaming it over NAME.xml; a
// kill -9 of vmmap serve between the two leaves the .new file, which libvirt
// never reads or removes (seen in the kill loop). Only called before the
// embedded driver opens, under the root's lock, so no libvirt write can be in
// flight.
void RemoveInterruptedLibvirtWrites(const std::string& root) {
  for (const char* dir : {"etc/qemu", "run/qemu"}) {
    std::error_code ec;
    for (const fs::directory_entry& entry : fs::directory_iterator(fs::path(root) / dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (absl::EndsWith(name, ".xml.new") && entry.is_regular_file(ec)) {
        fs::remove(entry.path(), ec);
      }
    }
  }
}

// The driver reads <root>/etc/qemu.conf (its config base dir is <root>/etc,
// as /etc/libvirt is libvirtd's). Its default sends QEMU's console output
// through virtlogd, a daemon the embedded mode exists to avoid; write serial
// logs directly instead, unless the operator already configured the driver.
absl::Status WriteQemuConfUnlessPresent(const std::string& root) {
  const fs::path conf = fs::path(root) / "etc" / "qemu.conf";
  std::error_code ec;
  if (fs::exists(conf, ec)) return absl::OkStatus();
  if (absl::Status s = MakeDirectories(conf.parent_path().string(), 0755); !s.ok()) return s;
  return WriteFileAtomically(conf.string(),
                             "# Written by vmmap serve: console logs without virtlogd.\n"
                             "stdio_handler = \"file\"\n",
                             0644);
}

}  // namespace

std::string EmbeddedDriverRoot(const std::string& uri) {
  const std::string prefix = "qemu:///embed?root=";
  return uri.rfind(prefix, 0) == 0 ? uri.substr(prefix.size()) : "";
}

absl::StatusOr<int> LockEmbeddedRoot(const std::string& root) {
  if (absl::Status s = MakeDirectories(root, 0755); !s.ok()) return s;
  const std::string path = absl::StrCat(root, "/vmmap-serve.lock");
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoToStatus(errno, absl::StrCat("open ", path));
  struct flock whole {};
  whole.l_type = F_WRLCK;
  whole.l_whence = SEEK_SET;
  if (::fcntl(fd, F_SETLK, &whole) == 0) return fd;
  const int err = errno;
  struct flock holder = whole;
  const bool known = ::fcntl(fd, F_GETLK, &holder) == 0 && holder.l_type != F_UNLCK;
  ::close(fd);
  if (err != EACCES && err != EAGAIN) return ErrnoToStatus(err, absl::StrCat("lock ", path));
  return absl::FailedPreconditionError(
      absl::StrCat("libvirt root ", root, " is in use by another vmmap serve (", path, " is locked",
                   known ? absl::StrCat(" by pid ", holder.l_pid) : "", ")"));
}

absl::Status PrepareEmbeddedDriver(const std::string& uri) {
  const std::string root = EmbeddedDriverRoot(uri);
  if (root.empty()) return absl::OkStatus();
  absl::StatusOr<int> lock = LockEmbeddedRoot(root);  // held until the process exits
  if (!lock.ok()) return lock.status();
  const KillOutcome probes = KillProbeQemus(root, kProbeKillDeadline);
  if (!probes.killed.empty()) {
    VMMAP_LOG(kInfo, "vmmap serve: killed libvirt capability probes left by a killed driver: pid ",
              absl::StrJoin(probes.killed, ", "));
  }
  if (!probes.left.empty()) {
    VMMAP_LOG(kWarning, "vmmap serve: libvirt capability probes of ", root,
              " still run after SIGKILL: pid ", absl::StrJoin(probes.left, ", "));
  }
  RemoveInterruptedLibvirtWrites(root);
  return WriteQemuConfUnlessPresent(root);
}

}  // namespace vmmap
