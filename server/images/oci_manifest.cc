#include "server/images/oci_manifest.h"

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace vmmap::images_internal {
namespace {

constexpr size_t kMaxLayers = 128;
constexpr size_t kMaxIndexEntries = 1024;

constexpr char kOciManifest[] = "application/vnd.oci.image.manifest.v1+json";
constexpr char kOciIndex[] = "application/vnd.oci.image.index.v1+json";
constexpr char kDockerManifest[] = "application/vnd.docker.distribution.manifest.v2+json";
constexpr char kDockerList[] = "application/vnd.docker.distribution.manifest.list.v2+json";

bool IsLayerType(absl::string_view t) {
  static const char* const kTypes[] = {
      "application/vnd.oci.image.layer.v1.tar",
      "application/vnd.oci.image.layer.v1.tar+gzip",
      "application/vnd.oci.image.layer.v1.tar+zstd",
      "application/vnd.oci.image.layer.nondistributable.v1.tar",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
      "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  };
  for (const char* k : kTypes) {
    if (t == k) return true;
  }
  return false;
}

absl::Status Bad(const std::string& what, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("image ", what, ": manifest ", why));
}

std::string StringField(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

absl::StatusOr<Descriptor> ParseDescriptor(const nlohmann::json& j, const std::string& field,
                                           const std::string& what) {
  if (!j.is_object()) return Bad(what, absl::StrCat("field ", field, " is not an object"));
  Descriptor d;
  d.media_type = StringField(j, "mediaType");
  d.digest = StringField(j, "digest");
  if (!IsSha256Digest(d.digest)) {
    return Bad(what, absl::StrCat("field ", field, ".digest \"", d.digest.substr(0, 80),
                                  "\" is not sha256:<64 hex>"));
  }
  auto size = j.find("size");
  if (size == j.end() || !size->is_number_unsigned()) {
    return Bad(what, absl::StrCat("field ", field, ".size is missing"));
  }
  d.size = size->get<uint64_t>();
  auto platform = j.find("platform");
  if (platform != j.end() && platform->is_object()) {
    d.os = StringField(*platform, "os");
    d.architecture = StringField(*platform, "architecture");
    d.variant = StringField(*platform, "variant");
  }
  return d;
}

}  // namespace

const char kManifestAccept[] =
    "Accept: application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

bool IsSha256Digest(absl::string_view digest) {
  if (!absl::ConsumePrefix(&digest, "sha256:") || digest.size() != 64) {
    return false;
  }
  for (char c : digest) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::StatusOr<Manifest> ParseManifest(absl::string_view body, absl::string_view content_type,
                                       const std::string& what) {
  nlohmann::json j = nlohmann::json::parse(body.begin(), body.end(), nullptr,
                                           /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Bad(what, "is not a JSON object");
  auto version = j.find("schemaVersion");
  if (version == j.end() || !version->is_number_integer() || version->get<int64_t>() != 2) {
    return Bad(what,
               "field schemaVersion is not 2 (Docker schema 1 images "
               "are not supported; push the image again with a "
               "current tool)");
  }
  std::string type = StringField(j, "mediaType");
  if (type.empty()) {
    type = std::string(content_type.substr(0, content_type.find(';')));
  }
  Manifest m;
  if (type == kOciIndex || type == kDockerList || (type.empty() && j.contains("manifests"))) {
    m.is_index = true;
    auto list = j.find("manifests");
    if (list == j.end() || !list->is_array()) {
      return Bad(what, "field manifests is not an array");
    }
    if (list->size() > kMaxIndexEntries) {
      return Bad(what, "has more than 1024 entries in field manifests");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      absl::StatusOr<Descriptor> d =
          ParseDescriptor((*list)[i], absl::StrCat("manifests[", i, "]"), what);
      if (!d.ok()) return d.status();
      m.manifests.push_back(*d);
    }
    return m;
  }
  if (!(type == kOciManifest || type == kDockerManifest ||
        (type.empty() && j.contains("layers")))) {
    return Bad(what, absl::StrCat("media type \"", type.substr(0, 120),
                                  "\" is not an image manifest or index"));
  }
  auto config = j.find("config");
  if (config == j.end()) return Bad(what, "has no field config");
  absl::StatusOr<Descriptor> c = ParseDescriptor(*config, "config", what);
  if (!c.ok()) return c.status();
  m.config = *c;
  auto layers = j.find("layers");
  if (layers == j.end() || !layers->is_array()) {
    return Bad(what, "field layers is not an array");
  }
  if (layers->size() > kMaxLayers) {
    return Bad(what, absl::StrCat("has ", layers->size(), " layers (at most 128 are accepted)"));
  }
  for (size_t i = 0; i < layers->size(); ++i) {
    std::string field = absl::StrCat("layers[", i, "]");
    absl::StatusOr<Descriptor> d = ParseDescriptor((*layers)[i], field, what);
    if (!d.ok()) return d.status();
    if (!IsLayerType(d->media_type)) {
      return Bad(what, absl::StrCat("field ", field, ".mediaType \"", d->media_type.substr(0, 120),
                                    "\" is not a tar layer (tar, tar+gzip, "
                                    "tar+zstd)"));
    }
    m.layers.push_back(*d);
  }
  return m;
}

absl::StatusOr<Descriptor> PickLinuxAmd64(const Manifest& index, const std::string& what) {
  std::vector<std::string> offered;
  for (const Descriptor& d : index.manifests) {
    if (d.os == "linux" && d.architecture == "amd64") return d;
    offered.push_back(d.os.empty() ? "(no platform)" : absl::StrCat(d.os, "/", d.architecture));
  }
  return absl::NotFoundError(absl::StrCat("image ", what, " has no linux/amd64 manifest (offered: ",
                                          offered.empty() ? "none" : absl::StrJoin(offered, ", "),
                                          ")"));
}

}  // namespace vmmap::images_internal
