// Registry manifests and image references are untrusted: any bytes must
// parse or fail with InvalidArgument/NotFound, never crash; what parses obeys
// the bounds the puller relies on, and a normalised reference is a fixed
// point of normalisation.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "server/images/oci_manifest.h"
#include "server/images/reference.h"

using namespace vmmap::images_internal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto manifest = ParseManifest(text, "", "fuzz");
  if (!manifest.ok()) {
    if (manifest.status().code() != absl::StatusCode::kInvalidArgument) abort();
  } else if (manifest->is_index) {
    for (const Descriptor& d : manifest->manifests) {
      if (!IsSha256Digest(d.digest)) abort();
    }
    auto picked = PickLinuxAmd64(*manifest, "fuzz");
    if (!picked.ok() && picked.status().code() != absl::StatusCode::kNotFound) abort();
  } else {
    if (!IsSha256Digest(manifest->config.digest) || manifest->layers.size() > 128) abort();
    for (const Descriptor& d : manifest->layers) {
      if (!IsSha256Digest(d.digest)) abort();
    }
  }
  auto ref = ParseImageReference(text);
  if (!ref.ok()) {
    if (ref.status().code() != absl::StatusCode::kInvalidArgument) abort();
    return 0;
  }
  const std::string canonical = ref->Canonical();
  auto again = ParseImageReference(canonical);
  if (!again.ok() || again->Canonical() != canonical) abort();
  return 0;
}
