#include "server/base/errno_status.h"
#include "server/images/fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/images/fs_util.h"
#include "server/images/http_get.h"

namespace vmmap::images_internal {
namespace {

constexpr uint64_t kProgressThreshold = 64ull << 20;
constexpr uint64_t kMiB = 1ull << 20;

// Prints "<ref>: NN% (x of y MiB)" every 10% for transfers over 64 MiB, or
// every 256 MiB when the total is unknown.
class Progress {
 public:
  explicit Progress(const std::string& reference) : reference_(reference) {}
  void SetTotal(uint64_t total) { total_ = total; }
  void Add(uint64_t n) {
    done_ += n;
    if (total_ > kProgressThreshold) {
      int pct = static_cast<int>(done_ * 100 / total_);
      if (pct >= next_pct_) {
        fprintf(stderr, "vmmap: pulling %s: %d%% (%llu of %llu MiB)\n", reference_.c_str(), pct,
                static_cast<unsigned long long>(done_ / kMiB),
                static_cast<unsigned long long>(total_ / kMiB));
        next_pct_ = (pct / 10 + 1) * 10;
      }
    } else if (total_ == 0 && done_ > kProgressThreshold && done_ >= next_unknown_) {
      fprintf(stderr, "vmmap: pulling %s: %llu MiB\n", reference_.c_str(),
              static_cast<unsigned long long>(done_ / kMiB));
      next_unknown_ = (done_ / (256 * kMiB) + 1) * 256 * kMiB;
    }
  }

 private:
  const std::string& reference_;
  uint64_t total_ = 0;
  uint64_t done_ = 0;
  int next_pct_ = 10;
  uint64_t next_unknown_ = 0;
};

// The resolved path of an open fd (what the kernel actually opened).
absl::StatusOr<std::string> FdPath(int fd) {
  char buf[PATH_MAX + 1];
  std::string link = absl::StrCat("/proc/self/fd/", fd);
  ssize_t n = readlink(link.c_str(), buf, PATH_MAX);
  if (n < 0) return ErrnoToStatus(errno, absl::StrCat("readlink ", link));
  return std::string(buf, static_cast<size_t>(n));
}

absl::Status CheckImportRoot(const std::string& reference, int fd, const std::string& import_root) {
  if (import_root.empty()) {
    return absl::PermissionDeniedError(
        absl::StrCat("pull ", reference,
                     ": file:// imports are disabled on this node (vmmap serve "
                     "--image-import-root DIR allows files below DIR)"));
  }
  char root_buf[PATH_MAX];
  if (realpath(import_root.c_str(), root_buf) == nullptr) {
    return ErrnoToStatus(errno, absl::StrCat("image import root ", import_root));
  }
  std::string root = root_buf;
  absl::StatusOr<std::string> opened = FdPath(fd);
  if (!opened.ok()) return opened.status();
  bool below = root == "/" ? absl::StartsWith(*opened, "/") : absl::StartsWith(*opened, root + "/");
  if (!below) {
    return absl::PermissionDeniedError(absl::StrCat("pull ", reference, ": ", *opened,
                                                    " is not below the image import root ", root));
  }
  return absl::OkStatus();
}

absl::StatusOr<FetchResult> FetchFile(const std::string& reference, const std::string& path,
                                      const FetchLimits& limits, int out_fd) {
  if (limits.file_import_root.empty()) {
    return CheckImportRoot(reference, -1, limits.file_import_root);
  }
  // O_NONBLOCK: opening a FIFO must not hang the pull.
  UniqueFd in(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!in.valid()) return ErrnoToStatus(errno, absl::StrCat("pull ", reference));
  absl::Status allowed = CheckImportRoot(reference, in.get(), limits.file_import_root);
  if (!allowed.ok()) return allowed;
  struct stat st;
  if (fstat(in.get(), &st) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("stat ", path));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("pull ", reference, ": not a regular file"));
  }
  if (static_cast<uint64_t>(st.st_size) > limits.max_bytes) {
    return TooLargeError(reference, limits.max_bytes);
  }
  Progress progress(reference);
  progress.SetTotal(static_cast<uint64_t>(st.st_size));
  Sha256 sha;
  std::vector<char> buf(1 << 20);
  FetchResult result;
  while (true) {
    ssize_t n = read(in.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, absl::StrCat("read ", path));
    }
    if (n == 0) break;
    if (result.size + static_cast<uint64_t>(n) > limits.max_bytes) {
      return TooLargeError(reference, limits.max_bytes);  // the file grew
    }
    if (absl::Now() > limits.deadline) return TooSlowError(reference);
    if (limits.abandoned && limits.abandoned()) {
      return absl::CancelledError(absl::StrCat("pull ", reference, ": the caller went away"));
    }
    sha.Update(buf.data(), static_cast<size_t>(n));
    absl::Status s = WriteAll(out_fd, buf.data(), static_cast<size_t>(n), "pulled image");
    if (!s.ok()) return s;
    result.size += static_cast<uint64_t>(n);
    progress.Add(static_cast<uint64_t>(n));
  }
  result.sha256_hex = sha.HexDigest();
  return result;
}

absl::StatusOr<FetchResult> FetchHttp(const std::string& reference, const FetchLimits& limits,
                                      int out_fd) {
  Sha256 sha;
  Progress progress(reference);
  FetchResult result;
  HttpRequest request;
  request.url = reference;
  request.deadline = limits.deadline;
  request.max_bytes = limits.max_bytes;
  request.what = absl::StrCat("pull ", reference);
  request.abandoned = limits.abandoned;
  absl::StatusOr<HttpResponse> response =
      HttpGet(request, [&](absl::string_view piece, uint64_t content_length) -> absl::Status {
        progress.SetTotal(content_length);
        sha.Update(piece.data(), piece.size());
        absl::Status s = WriteAll(out_fd, piece.data(), piece.size(), "pulled image");
        if (!s.ok()) return s;
        result.size += piece.size();
        progress.Add(piece.size());
        return absl::OkStatus();
      });
  if (!response.ok()) return response.status();
  if (response->code < 200 || response->code >= 300) {
    return HttpCodeStatus(response->code, request.what);
  }
  result.sha256_hex = sha.HexDigest();
  return result;
}

absl::Status Invalid(const std::string& reference, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("invalid image reference \"",
                                                 absl::CHexEscape(reference), "\": ", why,
                                                 " (accepted: file:///absolute/path, http://..., "
                                                 "https://...)"));
}

}  // namespace

absl::StatusOr<ParsedReference> ParseReference(const std::string& reference) {
  for (char ch : reference) {
    unsigned char u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u == 0x7f) {
      return Invalid(reference, "contains control characters");
    }
  }
  ParsedReference parsed;
  if (absl::StartsWith(reference, "file://")) {
    std::string rest = reference.substr(7);
    if (absl::StartsWith(rest, "localhost/")) rest = rest.substr(9);
    if (rest.empty() || rest[0] != '/') {
      return Invalid(reference, "file:// needs an absolute path");
    }
    if (rest.find('%') != std::string::npos) {
      return Invalid(reference, "percent-encoding is not supported in paths");
    }
    for (absl::string_view part : absl::StrSplit(rest, '/')) {
      if (part == "..") return Invalid(reference, "\"..\" in path");
    }
    parsed.scheme = Scheme::kFile;
    parsed.path = rest;
    return parsed;
  }
  std::string lower = absl::AsciiStrToLower(reference.substr(0, 8));
  size_t host_at = 0;
  if (absl::StartsWith(lower, "http://")) host_at = 7;
  if (absl::StartsWith(lower, "https://")) host_at = 8;
  if (host_at == 0) return Invalid(reference, "unsupported scheme");
  if (reference.size() <= host_at || reference[host_at] == '/') {
    return Invalid(reference, "missing host");
  }
  if (reference.find(' ') != std::string::npos) {
    return Invalid(reference, "contains spaces");
  }
  parsed.scheme = Scheme::kHttp;
  return parsed;
}

absl::Status TooLargeError(const std::string& reference, uint64_t max_bytes) {
  return absl::ResourceExhaustedError(
      absl::StrCat("pull ", reference, ": the image is larger than the limit of ", max_bytes,
                   " bytes (vmmap serve --max-image-size)"));
}

absl::Status TooSlowError(const std::string& reference) {
  return absl::DeadlineExceededError(
      absl::StrCat("pull ", reference,
                   ": did not finish within the pull time limit (vmmap serve "
                   "--pull-timeout)"));
}

absl::StatusOr<FetchResult> Fetch(const std::string& reference, const ParsedReference& parsed,
                                  const FetchLimits& limits, int out_fd) {
  if (parsed.scheme == Scheme::kFile) {
    return FetchFile(reference, parsed.path, limits, out_fd);
  }
  return FetchHttp(reference, limits, out_fd);
}

}  // namespace vmmap::images_internal
