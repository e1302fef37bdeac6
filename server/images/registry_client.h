// Internal: the OCI distribution API (v2) for one repository: manifests and
// blobs by digest, every digest verified, with anonymous, basic and bearer
// token authentication (as Docker and containerd do it).
#ifndef VMMAP_SERVER_IMAGES_REGISTRY_CLIENT_H_
#define VMMAP_SERVER_IMAGES_REGISTRY_CLIENT_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/images/http_get.h"
#include "server/images/oci_manifest.h"
#include "server/images/reference.h"

namespace vmmap {

// Credentials for one pull, from the CRI AuthConfig.
struct RegistryAuth {
  std::string username;
  std::string password;
  std::string registry_token;  // a bearer token to send as is
};

namespace images_internal {

struct FetchedManifest {
  std::string body;
  std::string content_type;
  std::string digest;  // sha256 of the body, "sha256:<hex>"
};

class RegistryClient {
 public:
  // `plain_http`: talk http instead of https (loopback and
  // --insecure-registry hosts only; the caller decides). `what` names the
  // pull in errors. Every request ends by `deadline`.
  // `abandoned` (may be empty) aborts requests with Cancelled.
  RegistryClient(ImageReference ref, RegistryAuth auth, bool plain_http, absl::Time deadline,
                 std::function<bool()> abandoned, std::string what);

  // GET /v2/<name>/manifests/<tag or digest> (at most 4 MiB). When
  // `reference` is a digest, the body must hash to it (DataLoss otherwise).
  absl::StatusOr<FetchedManifest> GetManifest(const std::string& reference);

  // GET a blob into memory (at most `max` bytes), verified against `blob`.
  absl::StatusOr<std::string> GetSmallBlob(const Descriptor& blob, size_t max);

  // Streams a blob to `fd`, verified against `blob` (size and sha256):
  // DataLoss on a mismatch.
  absl::Status DownloadBlob(const Descriptor& blob, int fd);

 private:
  // One GET of /v2/<name>/<path>, authenticating once on a 401 challenge.
  absl::StatusOr<HttpResponse> Get(const std::string& path, const std::string& accept,
                                   uint64_t max_bytes, const BodySink& sink);
  // GETs a blob into `sink`, verifying its size and digest (DataLoss).
  absl::Status FetchBlob(const Descriptor& blob, const BodySink& sink);
  absl::Status Authenticate(const std::string& challenge);
  // The status for a non-2xx answer to a request for `what_failed`.
  absl::Status Failed(const HttpResponse& response, const std::string& what_failed) const;

  const ImageReference ref_;
  const RegistryAuth auth_;
  const bool plain_http_;
  const absl::Time deadline_;
  const std::function<bool()> abandoned_;
  const std::string what_;
  std::string authorization_;  // the Authorization header, once known
};

// True for hosts vmmap talks plain http to without being told: localhost,
// 127.0.0.0/8 and [::1], with any port.
bool IsLoopbackRegistry(const std::string& domain);

}  // namespace images_internal
}  // namespace vmmap

#endif  // VMMAP_SERVER_IMAGES_REGISTRY_CLIENT_H_
