#include "server/base/errno_status.h"
#include "server/images/fs_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/base/errno_status.h"

namespace vmmap::images_internal {

void UniqueFd::Reset() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

absl::Status WriteAll(int fd, const void* data, size_t len, absl::string_view what) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, absl::StrCat("write ", what));
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> PreadFull(int fd, void* data, size_t len, off_t offset,
                                 absl::string_view what) {
  char* p = static_cast<char*>(data);
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, p + done, len - done, offset + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, absl::StrCat("read ", what));
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

absl::Status FsyncPath(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoToStatus(errno, absl::StrCat("open ", path));
  if (fsync(fd.get()) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("fsync ", path));
  }
  return absl::OkStatus();
}

namespace {

// Removes everything inside the directory `dir_fd` (which it closes).
absl::Status RemoveContents(int dir_fd, const std::string& display) {
  DIR* dir = fdopendir(dir_fd);
  if (dir == nullptr) {
    int err = errno;
    close(dir_fd);
    return ErrnoToStatus(err, absl::StrCat("opendir ", display));
  }
  absl::Status status;
  std::vector<std::string> names;
  while (struct dirent* ent = readdir(dir)) {
    if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) {
      continue;
    }
    names.emplace_back(ent->d_name);
  }
  int fd = dirfd(dir);
  for (const std::string& name : names) {
    std::string child = absl::StrCat(display, "/", name);
    if (unlinkat(fd, name.c_str(), 0) == 0 || errno == ENOENT) continue;
    if (errno != EISDIR && errno != EPERM) {
      status.Update(ErrnoToStatus(errno, absl::StrCat("unlink ", child)));
      continue;
    }
    int sub = openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0) {
      if (errno != ENOENT) {
        status.Update(ErrnoToStatus(errno, absl::StrCat("open ", child)));
      }
      continue;
    }
    status.Update(RemoveContents(sub, child));
    if (unlinkat(fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
      status.Update(ErrnoToStatus(errno, absl::StrCat("rmdir ", child)));
    }
  }
  closedir(dir);
  return status;
}

void WalkDir(int dir_fd, uint64_t* bytes, uint64_t* inodes) {
  DIR* dir = fdopendir(dir_fd);
  if (dir == nullptr) {
    close(dir_fd);
    return;
  }
  int fd = dirfd(dir);
  while (struct dirent* ent = readdir(dir)) {
    if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) {
      continue;
    }
    struct stat st;
    if (fstatat(fd, ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    *bytes += static_cast<uint64_t>(st.st_blocks) * 512;
    *inodes += 1;
    if (S_ISDIR(st.st_mode)) {
      int sub = openat(fd, ent->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) WalkDir(sub, bytes, inodes);
    }
  }
  closedir(dir);
}

}  // namespace

absl::Status RemoveTree(const std::string& path) {
  if (unlink(path.c_str()) == 0 || errno == ENOENT) return absl::OkStatus();
  if (errno != EISDIR && errno != EPERM) {
    return ErrnoToStatus(errno, absl::StrCat("unlink ", path));
  }
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoToStatus(errno, absl::StrCat("open ", path));
  }
  absl::Status status = RemoveContents(fd, path);
  if (rmdir(path.c_str()) != 0 && errno != ENOENT) {
    status.Update(ErrnoToStatus(errno, absl::StrCat("rmdir ", path)));
  }
  return status;
}

absl::Status WalkUsage(const std::string& path, uint64_t* bytes, uint64_t* inodes) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("stat ", path));
  }
  *bytes += static_cast<uint64_t>(st.st_blocks) * 512;
  *inodes += 1;
  if (!S_ISDIR(st.st_mode)) return absl::OkStatus();
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, absl::StrCat("open ", path));
  WalkDir(fd, bytes, inodes);
  return absl::OkStatus();
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ != nullptr && EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx_);
    ctx_ = nullptr;
  }
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::Update(const void* data, size_t len) {
  if (ctx_ != nullptr) EVP_DigestUpdate(ctx_, data, len);
}

std::string Sha256::HexDigest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (ctx_ == nullptr || EVP_DigestFinal_ex(ctx_, md, &len) != 1) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

absl::StatusOr<std::string> Sha256OfFd(int fd, uint64_t* size) {
  Sha256 sha;
  std::vector<char> buf(1 << 20);
  uint64_t offset = 0;
  while (true) {
    ssize_t n = pread(fd, buf.data(), buf.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, "re-read pulled file");
    }
    if (n == 0) break;
    sha.Update(buf.data(), static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  if (size != nullptr) *size = offset;
  return sha.HexDigest();
}

}  // namespace vmmap::images_internal
