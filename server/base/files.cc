#include "server/base/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "server/base/errno_status.h"

namespace vmmap {
namespace {

// Closes the descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now and reports the error close() saw (a late write error on NFS).
  int Close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

absl::Status WriteAll(int fd, absl::string_view content, const std::string& path) {
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoToStatus(errno, absl::StrCat("write ", path));
    content.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return ErrnoToStatus(errno, absl::StrCat("open ", path));
  std::string out;
  char buffer[8192];
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoToStatus(errno, absl::StrCat("read ", path));
    if (n == 0) return out;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("read ", path, ": larger than ", max_bytes, " bytes"));
    }
    out.append(buffer, static_cast<size_t>(n));
  }
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view content, mode_t mode) {
  std::string temp = absl::StrCat(path, ".tmp.XXXXXX");
  Fd fd(::mkstemp(temp.data()));
  if (fd.get() < 0) return ErrnoToStatus(errno, absl::StrCat("create a temporary file for ", path));
  auto fail = [&](absl::Status s) {
    ::unlink(temp.c_str());
    return s;
  };
  if (::fchmod(fd.get(), mode) != 0)
    return fail(ErrnoToStatus(errno, absl::StrCat("chmod ", temp)));
  if (absl::Status s = WriteAll(fd.get(), content, temp); !s.ok()) return fail(s);
  if (::fsync(fd.get()) != 0) return fail(ErrnoToStatus(errno, absl::StrCat("fsync ", temp)));
  if (fd.Close() != 0) return fail(ErrnoToStatus(errno, absl::StrCat("close ", temp)));
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    return fail(ErrnoToStatus(errno, absl::StrCat("rename ", temp, " to ", path)));
  }
  const std::string dir = DirName(path);
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0 || ::fsync(dir_fd.get()) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("fsync ", dir));
  }
  return absl::OkStatus();
}

absl::Status WriteExistingFile(const std::string& path, absl::string_view content) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return ErrnoToStatus(errno, absl::StrCat("open ", path));
  if (absl::Status s = WriteAll(fd.get(), content, path); !s.ok()) return s;
  if (fd.Close() != 0) return ErrnoToStatus(errno, absl::StrCat("close ", path));
  return absl::OkStatus();
}

absl::Status MakeDirectories(const std::string& path, mode_t mode) {
  if (path.empty()) return absl::InvalidArgumentError("mkdir: empty path");
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    const std::string prefix = path.substr(0, pos);
    if (prefix.empty() || prefix == "/") continue;
    if (::mkdir(prefix.c_str(), mode) == 0) continue;
    if (errno != EEXIST) return ErrnoToStatus(errno, absl::StrCat("mkdir ", prefix));
    struct stat st;
    if (::stat(prefix.c_str(), &st) != 0)
      return ErrnoToStatus(errno, absl::StrCat("stat ", prefix));
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat("mkdir ", path, ": ", prefix, " exists and is not a directory"));
    }
  }
  return absl::OkStatus();
}

}  // namespace vmmap
