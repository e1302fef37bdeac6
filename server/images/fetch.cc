#include "server/images/fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
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
        fprintf(stderr, "vmmap: pulling %s: %d%% (%llu of %llu MiB)\n",
                reference_.c_str(), pct,
                static_cast<unsigned long long>(done_ / kMiB),
                static_cast<unsigned long long>(total_ / kMiB));
        next_pct_ = (pct / 10 + 1) * 10;
      }
    } else if (total_ == 0 && done_ > kProgressThreshold &&
               done_ >= next_unknown_) {
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

absl::StatusOr<FetchResult> FetchFile(const std::string& reference,
                                      const std::string& path, int out_fd) {
  UniqueFd in(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!in.valid()) {
    int err = errno;
    absl::Status s = ErrnoStatus(err, absl::StrCat("pull ", reference));
    return s;
  }
  struct stat st;
  if (fstat(in.get(), &st) != 0) {
    return ErrnoStatus(errno, absl::StrCat("stat ", path));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("pull ", reference, ": not a regular file"));
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
      return ErrnoStatus(errno, absl::StrCat("read ", path));
    }
    if (n == 0) break;
    sha.Update(buf.data(), static_cast<size_t>(n));
    absl::Status s = WriteAll(out_fd, buf.data(), static_cast<size_t>(n),
                              "pulled image");
    if (!s.ok()) return s;
    result.size += static_cast<uint64_t>(n);
    progress.Add(static_cast<uint64_t>(n));
  }
  result.sha256_hex = sha.HexDigest();
  return result;
}

struct CurlSink {
  CURL* curl = nullptr;
  int fd = -1;
  Sha256* sha = nullptr;
  Progress* progress = nullptr;
  bool total_known = false;
  uint64_t size = 0;
  absl::Status write_status;
};

size_t CurlWrite(char* data, size_t size, size_t nmemb, void* user) {
  auto* sink = static_cast<CurlSink*>(user);
  size_t len = size * nmemb;
  if (!sink->total_known) {
    sink->total_known = true;
    curl_off_t total = -1;
    if (curl_easy_getinfo(sink->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
                          &total) == CURLE_OK &&
        total > 0) {
      sink->progress->SetTotal(static_cast<uint64_t>(total));
    }
  }
  sink->sha->Update(data, len);
  absl::Status s = WriteAll(sink->fd, data, len, "pulled image");
  if (!s.ok()) {
    sink->write_status = s;
    return 0;  // makes curl fail with CURLE_WRITE_ERROR
  }
  sink->size += len;
  sink->progress->Add(len);
  return len;
}

absl::Status HttpStatusError(const std::string& reference, long code) {
  std::string msg = absl::StrCat("pull ", reference, ": HTTP ", code);
  if (code == 404 || code == 410) return absl::NotFoundError(msg);
  if (code == 401 || code == 403) return absl::PermissionDeniedError(msg);
  if (code >= 500 || code == 408 || code == 429) {
    return absl::UnavailableError(msg);
  }
  return absl::InvalidArgumentError(msg);
}

absl::StatusOr<FetchResult> FetchHttp(const std::string& reference,
                                      int out_fd) {
  static std::once_flag once;
  static CURLcode init_code = CURLE_OK;
  std::call_once(once, [] { init_code = curl_global_init(CURL_GLOBAL_ALL); });
  if (init_code != CURLE_OK) {
    return absl::InternalError(absl::StrCat("curl_global_init: ",
                                            curl_easy_strerror(init_code)));
  }
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(),
                                              curl_easy_cleanup);
  if (!curl) return absl::InternalError("curl_easy_init failed");
  Sha256 sha;
  Progress progress(reference);
  CurlSink sink;
  sink.curl = curl.get();
  sink.fd = out_fd;
  sink.sha = &sha;
  sink.progress = &progress;
  char errbuf[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, reference.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "vmmap-image-store");
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, CurlWrite);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  CURLcode code = curl_easy_perform(c);
  if (code != CURLE_OK) {
    std::string detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(code);
    std::string msg = absl::StrCat("pull ", reference, ": ", detail);
    switch (code) {
      case CURLE_HTTP_RETURNED_ERROR: {
        long http = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
        return HttpStatusError(reference, http);
      }
      case CURLE_WRITE_ERROR:
        if (!sink.write_status.ok()) return sink.write_status;
        return absl::InternalError(msg);
      case CURLE_UNSUPPORTED_PROTOCOL:
      case CURLE_URL_MALFORMAT:
      case CURLE_TOO_MANY_REDIRECTS:
        return absl::InvalidArgumentError(msg);
      case CURLE_PEER_FAILED_VERIFICATION:
        return absl::PermissionDeniedError(msg);
      default:
        // Resolution, connection, TLS handshake, timeouts, resets, partial
        // transfers: all worth a retry.
        return absl::UnavailableError(msg);
    }
  }
  long http = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
  if (http >= 400) return HttpStatusError(reference, http);
  FetchResult result;
  result.size = sink.size;
  result.sha256_hex = sha.HexDigest();
  return result;
}

absl::Status Invalid(const std::string& reference, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid image reference \"", absl::CHexEscape(reference),
                   "\": ", why,
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

absl::StatusOr<FetchResult> Fetch(const std::string& reference,
                                  const ParsedReference& parsed, int out_fd) {
  if (parsed.scheme == Scheme::kFile) {
    return FetchFile(reference, parsed.path, out_fd);
  }
  return FetchHttp(reference, out_fd);
}

}  // namespace vmmap::images_internal
