#include "server/images/http_get.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/images/fetch.h"

namespace vmmap::images_internal {
namespace {

constexpr size_t kMaxErrorBody = 64 << 10;
constexpr size_t kMaxHeaderBytes = 256 << 10;

struct Transfer {
  CURL* curl = nullptr;
  const BodySink* sink = nullptr;
  HttpResponse* response = nullptr;
  uint64_t max_bytes = 0;
  size_t header_bytes = 0;
  bool too_large = false;
  absl::Status sink_status;
};

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* abandoned = static_cast<const std::function<bool()>*>(user);
  return (*abandoned && (*abandoned)()) ? 1 : 0;
}

long CurrentCode(CURL* curl) {
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  return code;
}

size_t OnHeader(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * nmemb;
  t->header_bytes += len;
  if (t->header_bytes > kMaxHeaderBytes) return 0;
  absl::string_view line(data, len);
  if (absl::StartsWith(line, "HTTP/")) {
    t->response->headers.clear();  // a new response (redirect, 100, 401)
    return len;
  }
  size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return len;
  std::string name = absl::AsciiStrToLower(line.substr(0, colon));
  t->response->headers[name] = std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  return len;
}

size_t OnBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * nmemb;
  long code = CurrentCode(t->curl);
  if (code < 200 || code >= 300) {
    std::string& e = t->response->error_body;
    e.append(data, std::min(len, kMaxErrorBody - std::min(e.size(), kMaxErrorBody)));
    return len;
  }
  if (t->response->body_bytes + len > t->max_bytes) {
    t->too_large = true;
    return 0;
  }
  curl_off_t length = -1;
  if (curl_easy_getinfo(t->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) != CURLE_OK ||
      length < 0) {
    length = 0;
  }
  absl::Status s = (*t->sink)(absl::string_view(data, len), static_cast<uint64_t>(length));
  if (!s.ok()) {
    t->sink_status = s;
    return 0;
  }
  t->response->body_bytes += len;
  return len;
}

}  // namespace

absl::Status HttpCodeStatus(long code, absl::string_view prefix, absl::string_view detail) {
  std::string msg = absl::StrCat(prefix, ": HTTP ", code);
  if (!detail.empty()) absl::StrAppend(&msg, ": ", detail);
  if (code == 404 || code == 410) return absl::NotFoundError(msg);
  if (code == 401) return absl::UnauthenticatedError(msg);
  if (code == 403) return absl::PermissionDeniedError(msg);
  if (code >= 500 || code == 408 || code == 429) {
    return absl::UnavailableError(msg);
  }
  return absl::InvalidArgumentError(msg);
}

absl::StatusOr<HttpResponse> HttpGet(const HttpRequest& request, const BodySink& sink) {
  static std::once_flag once;
  static CURLcode init_code = CURLE_OK;
  std::call_once(once, [] { init_code = curl_global_init(CURL_GLOBAL_ALL); });
  if (init_code != CURLE_OK) {
    return absl::InternalError(absl::StrCat("curl_global_init: ", curl_easy_strerror(init_code)));
  }
  const int64_t left_ms = absl::ToInt64Milliseconds(request.deadline - absl::Now());
  if (left_ms <= 0) return TooSlowError(request.what);
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return absl::InternalError("curl_easy_init failed");
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(nullptr, curl_slist_free_all);
  for (const std::string& h : request.headers) {
    curl_slist* next = curl_slist_append(headers.get(), h.c_str());
    if (next == nullptr) return absl::InternalError("curl_slist_append failed");
    headers.release();
    headers.reset(next);
  }
  HttpResponse response;
  Transfer t;
  t.curl = curl.get();
  t.sink = &sink;
  t.response = &response;
  t.max_bytes = request.max_bytes;
  char errbuf[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, request.redirect_protocols.c_str());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(left_ms));
  curl_easy_setopt(c, CURLOPT_USERAGENT, "vmmap-image-store");
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &request.abandoned);
  CURLcode code = curl_easy_perform(c);
  if (code == CURLE_OK) {
    response.code = CurrentCode(c);
    return response;
  }
  if (t.too_large) return TooLargeError(request.what, request.max_bytes);
  if (!t.sink_status.ok()) return t.sink_status;
  std::string detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(code);
  std::string msg = absl::StrCat(request.what, ": ", detail);
  switch (code) {
    case CURLE_ABORTED_BY_CALLBACK:
      return absl::CancelledError(absl::StrCat(request.what, ": the caller went away"));
    case CURLE_OPERATION_TIMEDOUT:
      // curl's total timeout is the deadline in whole milliseconds, so it
      // may fire a moment early; the low-speed timeout (60 s) is the other.
      if (absl::Now() + absl::Seconds(1) >= request.deadline) {
        return TooSlowError(request.what);
      }
      return absl::UnavailableError(msg);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_TOO_MANY_REDIRECTS:
      return absl::InvalidArgumentError(msg);
    case CURLE_PEER_FAILED_VERIFICATION:
      return absl::PermissionDeniedError(msg);
    default:
      // Resolution, connection, TLS handshake, resets, partial transfers
      // (a server that went away mid-body): all worth a retry.
      return absl::UnavailableError(msg);
  }
}

}  // namespace vmmap::images_internal
