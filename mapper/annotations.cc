#include "mapper/annotations.h"

#include <cctype>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace vmmap {
namespace {

constexpr size_t kMaxQuotedLength = 64;

// Strict decimal: digits only, no sign, no spaces, at most 9 digits.
std::optional<int64_t> ParseDecimal(const std::string& text) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  int64_t value = 0;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

absl::StatusOr<std::optional<int>> ParseVcpus(const Annotations& annotations, const char* key,
                                              int max_vcpus) {
  auto it = annotations.find(key);
  if (it == annotations.end()) return std::optional<int>();
  std::optional<int64_t> n = ParseDecimal(it->second);
  if (!n) {
    return absl::InvalidArgumentError(absl::StrCat("annotation ", key, "=", QuoteValue(it->second),
                                                   ": expected a whole number of vCPUs"));
  }
  if (*n < 1 || *n > max_vcpus) {
    return absl::InvalidArgumentError(
        absl::StrCat("annotation ", key, "=", QuoteValue(it->second),
                     ": vCPUs must be between 1 and the node maximum ", max_vcpus));
  }
  return std::optional<int>(static_cast<int>(*n));
}

}  // namespace

std::string QuoteValue(const std::string& value) {
  std::string shown = value.substr(0, kMaxQuotedLength);
  std::string quoted = absl::StrCat("\"", absl::CHexEscape(shown), "\"");
  if (value.size() > kMaxQuotedLength) absl::StrAppend(&quoted, "…");
  return quoted;
}

absl::StatusOr<std::optional<int>> RequestedVcpus(const Annotations& annotations, int max_vcpus) {
  absl::StatusOr<std::optional<int>> ours = ParseVcpus(annotations, kVcpusAnnotation, max_vcpus);
  if (!ours.ok()) return ours;
  absl::StatusOr<std::optional<int>> virtlet =
      ParseVcpus(annotations, kVirtletVcpusAnnotation, max_vcpus);
  if (!virtlet.ok()) return virtlet;
  if (ours->has_value() && virtlet->has_value() && **ours != **virtlet) {
    return absl::InvalidArgumentError(absl::StrCat("annotations ", kVcpusAnnotation, "=", **ours,
                                                   " and ", kVirtletVcpusAnnotation, "=", **virtlet,
                                                   " disagree; set one of them"));
  }
  return ours->has_value() ? ours : virtlet;
}

absl::StatusOr<std::optional<int64_t>> RequestedEmulatorMilli(const Annotations& annotations,
                                                              int64_t min_milli,
                                                              int64_t max_milli) {
  auto it = annotations.find(kEmulatorCpuAnnotation);
  if (it == annotations.end()) return std::optional<int64_t>();
  std::string digits = it->second;
  if (!digits.empty() && digits.back() == 'm') digits.pop_back();
  std::optional<int64_t> milli = ParseDecimal(digits);
  if (!milli) {
    return absl::InvalidArgumentError(absl::StrCat("annotation ", kEmulatorCpuAnnotation, "=",
                                                   QuoteValue(it->second),
                                                   ": expected millicores such as 100 or 100m"));
  }
  if (*milli < min_milli || *milli > max_milli) {
    return absl::InvalidArgumentError(
        absl::StrCat("annotation ", kEmulatorCpuAnnotation, "=", QuoteValue(it->second),
                     ": emulator CPU must be between ", min_milli, "m and ", max_milli, "m"));
  }
  return milli;
}

}  // namespace vmmap
