// Virtlet-style image name translations, for drop-in Virtlet users: a pod
// image under a prefix (`virtlet.cloud/` by default) names a translation
// rule, and the rule gives the URL to pull. The file (`vmmap serve
// --image-translations FILE`) is YAML in Virtlet's ImageTranslation shape:
//
//   prefix: virtlet.cloud          # optional; overrides the default prefix
//   translations:
//     - name: cirros               # exact name
//       url: https://example.org/cirros.img
//     - regexp: 'centos/(\d+)-(\d+)'   # RE2, matched against the whole name
//       url: https://example.org/CentOS-$1-$2.qcow2   # $N / ${N}: groups
//
// The node admin writes this file; pod authors only choose names. A name
// after the prefix is matched as given, then without its tag (kubelet adds
// ":latest"); the first rule that matches wins.
#ifndef VMMAP_SERVER_IMAGES_TRANSLATIONS_H_
#define VMMAP_SERVER_IMAGES_TRANSLATIONS_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace re2 {
class RE2;
}

namespace vmmap::images_internal {

class Translations {
 public:
  // Parses the file's text; InvalidArgument naming `path`, the rule and the
  // field for anything malformed (including a regexp RE2 rejects, or a URL
  // that is not http(s)://).
  static absl::StatusOr<std::shared_ptr<const Translations>> Parse(
      absl::string_view yaml, const std::string& path, const std::string& default_prefix);

  ~Translations();

  // nullopt if `reference` is not under the prefix; the URL if a rule
  // matches; NotFound naming the name and the file otherwise.
  absl::StatusOr<std::optional<std::string>> Translate(const std::string& reference) const;

 private:
  struct Rule {
    std::string name;                  // exact name, or
    std::unique_ptr<re2::RE2> regexp;  // a whole-name pattern
    std::string url;                   // with $N / ${N} for regexp groups
  };
  Translations() = default;

  std::string path_;
  std::string prefix_;  // ends with '/'
  std::vector<Rule> rules_;
};

}  // namespace vmmap::images_internal

#endif  // VMMAP_SERVER_IMAGES_TRANSLATIONS_H_
