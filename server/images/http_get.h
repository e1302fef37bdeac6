// Internal: one HTTP GET with libcurl, bounded in time and size, with the
// body going to a caller's sink only when the answer is a success.
#ifndef VMMAP_SERVER_IMAGES_HTTP_GET_H_
#define VMMAP_SERVER_IMAGES_HTTP_GET_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace vmmap::images_internal {

struct HttpRequest {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // Redirects may go to these schemes only ("https" or "http,https").
  std::string redirect_protocols = "http,https";
  absl::Time deadline;     // the transfer is aborted after it
  uint64_t max_bytes = 0;  // a longer success body is aborted
  // Polled during the transfer; true aborts it with Cancelled (the caller
  // went away). May be empty.
  std::function<bool()> abandoned;
  // What `what` names in errors (e.g. the image reference).
  std::string what;
};

struct HttpResponse {
  long code = 0;
  // Lowercased header names of the final response (after redirects).
  std::map<std::string, std::string> headers;
  // The body of a non-2xx answer (at most 64 KiB), for error messages and
  // registry error JSON.
  std::string error_body;
  uint64_t body_bytes = 0;  // bytes passed to the sink
};

// Receives the body of a 2xx answer in pieces, with the announced
// Content-Length (0 if unknown); a non-OK status aborts the transfer and is
// returned by HttpGet.
using BodySink = std::function<absl::Status(absl::string_view, uint64_t content_length)>;

// Performs the GET. Cancelled once `abandoned` says so. Transport failures
// are Unavailable (connection refused,
// reset, TLS, timeouts before the deadline), DeadlineExceeded after
// `deadline`, ResourceExhausted past `max_bytes`; any HTTP status is returned
// in the response for the caller to judge.
absl::StatusOr<HttpResponse> HttpGet(const HttpRequest& request, const BodySink& sink);

// Maps a final non-2xx HTTP code to a status: 404/410 NotFound, 401
// Unauthenticated, 403 PermissionDenied, 5xx/408/429 Unavailable, other
// InvalidArgument; the message is "<prefix>: HTTP <code>[: <detail>]".
absl::Status HttpCodeStatus(long code, absl::string_view prefix, absl::string_view detail = "");

}  // namespace vmmap::images_internal

#endif  // VMMAP_SERVER_IMAGES_HTTP_GET_H_
