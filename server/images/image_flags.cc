#include "server/images/image_flags.h"

#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace vmmap {
namespace {

absl::Status Bad(const std::string& flag, const std::string& value, const char* expected) {
  return absl::InvalidArgumentError(absl::StrCat(flag, "=\"", value, "\": expected ", expected));
}

// "4294967296", "4Gi", "512Mi", "100M": bytes with an optional suffix.
bool ParseBytes(std::string value, uint64_t* out) {
  static const struct {
    const char* suffix;
    uint64_t factor;
  } kUnits[] = {{"Ki", 1ull << 10},   {"Mi", 1ull << 20},     {"Gi", 1ull << 30},
                {"Ti", 1ull << 40},   {"K", 1000ull},         {"M", 1000000ull},
                {"G", 1000000000ull}, {"T", 1000000000000ull}};
  uint64_t factor = 1;
  for (const auto& unit : kUnits) {
    std::string suffix = unit.suffix;
    if (value.size() > suffix.size() &&
        value.compare(value.size() - suffix.size(), suffix.size(), suffix) == 0) {
      factor = unit.factor;
      value.resize(value.size() - suffix.size());
      break;
    }
  }
  uint64_t n = 0;
  if (!absl::SimpleAtoi(value, &n) || n == 0 || n > UINT64_MAX / factor) {
    return false;
  }
  *out = n * factor;
  return true;
}

}  // namespace

absl::Status ParseImageFlag(const std::string& flag, const std::string& value,
                            ImageStoreOptions& options, bool* consumed) {
  *consumed = true;
  if (flag == "--image-import-root") {
    if (value.empty() || value[0] != '/') {
      return Bad(flag, value, "an absolute directory");
    }
    options.file_import_root = value;
  } else if (flag == "--max-image-size") {
    if (!ParseBytes(value, &options.max_image_bytes)) {
      return Bad(flag, value, "a positive size in bytes, e.g. 4Gi or 500Mi");
    }
  } else if (flag == "--pull-timeout") {
    absl::Duration d;
    if (!absl::ParseDuration(value, &d) || d <= absl::ZeroDuration() || d > absl::Hours(24)) {
      return Bad(flag, value, "a duration between 1s and 24h, e.g. 30m");
    }
    options.pull_timeout = std::chrono::seconds(std::max<int64_t>(1, absl::ToInt64Seconds(d)));
  } else if (flag == "--insecure-registry") {
    // HOST or HOST:PORT, as containerd's config names registries.
    bool ok =
        !value.empty() && value.size() <= 255 && value.find_first_of("/@ \t") == std::string::npos;
    if (!ok) return Bad(flag, value, "HOST or HOST:PORT");
    options.insecure_registries.push_back(value);
  } else if (flag == "--image-translations") {
    if (value.empty() || value[0] != '/') return Bad(flag, value, "an absolute file path");
    options.translations_file = value;
  } else if (flag == "--max-concurrent-pulls") {
    int n = 0;
    if (!absl::SimpleAtoi(value, &n) || n < 1 || n > 64) {
      return Bad(flag, value, "an integer from 1 to 64");
    }
    options.max_concurrent_pulls = n;
  } else {
    *consumed = false;
  }
  return absl::OkStatus();
}

const char* ImageFlagsHelp() {
  return "  --image-import-root DIR   allow file:// image pulls of files below DIR\n"
         "                            [none: file:// pulls are refused]\n"
         "  --max-image-size BYTES    largest image one pull may fetch and unpack [4Gi]\n"
         "  --pull-timeout DURATION   longest one pull may take, queueing included [30m]\n"
         "  --max-concurrent-pulls N  pulls that run at once; more wait [3]\n"
         "  --insecure-registry HOST[:PORT]  pull from this registry over plain http\n"
         "                            (repeatable; loopback registries always are) [none]\n"
         "  --image-translations FILE  Virtlet image translations: virtlet.cloud/NAME\n"
         "                            pulls the URL FILE gives NAME [none]\n";
}

}  // namespace vmmap
