// Internal helpers of the image store: fd I/O, sha256, and
// directory walks that never follow symlinks.
#ifndef VMMAP_SERVER_IMAGES_FS_UTIL_H_
#define VMMAP_SERVER_IMAGES_FS_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace vmmap::images_internal {

// Closes an fd on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = o.Release();
    }
    return *this;
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset();

 private:
  int fd_ = -1;
};

// Writes everything, retrying on EINTR and short writes.
absl::Status WriteAll(int fd, const void* data, size_t len, absl::string_view what);
// Reads up to `len` bytes at `offset`; returns the number read (short only at
// EOF).
absl::StatusOr<size_t> PreadFull(int fd, void* data, size_t len, off_t offset,
                                 absl::string_view what);

absl::Status FsyncPath(const std::string& path);  // opens O_RDONLY, fsyncs

// Recursively deletes `path` (a file or a directory) without following
// symlinks. Missing entries are not an error.
absl::Status RemoveTree(const std::string& path);

// Sums st_blocks*512 and counts entries under `path` (inclusive), without
// following symlinks; entries that vanish during the walk are skipped.
absl::Status WalkUsage(const std::string& path, uint64_t* bytes, uint64_t* inodes);

// Incremental sha256 (OpenSSL EVP).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, size_t len);
  // Finishes; call once. Empty if OpenSSL failed (no digest ever matches).
  std::string HexDigest();

 private:
  EVP_MD_CTX* ctx_;
};

// sha256 of everything in `fd` (read with pread from offset 0).
absl::StatusOr<std::string> Sha256OfFd(int fd, uint64_t* size);

}  // namespace vmmap::images_internal

#endif  // VMMAP_SERVER_IMAGES_FS_UTIL_H_
