#include "mapper/cpuset.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace vmmap {
namespace {

constexpr int kMaxCpu = 8191;  // Linux's NR_CPUS upper bound

bool ParseCpu(absl::string_view text, int* cpu) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      })) {
    return false;
  }
  return absl::SimpleAtoi(text, cpu) && *cpu <= kMaxCpu;
}

}  // namespace

absl::StatusOr<std::vector<int>> ParseCpuset(absl::string_view list, absl::string_view field) {
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": invalid cpuset \"", absl::CHexEscape(list.substr(0, 64)), "\": ", why));
  };
  std::set<int> cpus;
  for (absl::string_view part : absl::StrSplit(list, ',')) {
    std::vector<absl::string_view> bounds = absl::StrSplit(part, absl::MaxSplits('-', 1));
    int lo = 0;
    int hi = 0;
    if (!ParseCpu(bounds[0], &lo)) return invalid("expected CPU numbers such as 0-3,6");
    hi = lo;
    if (bounds.size() == 2 && !ParseCpu(bounds[1], &hi)) {
      return invalid("expected CPU numbers such as 0-3,6");
    }
    if (hi < lo) return invalid("range runs backwards");
    for (int cpu = lo; cpu <= hi; ++cpu) cpus.insert(cpu);
  }
  return std::vector<int>(cpus.begin(), cpus.end());
}

std::string FormatCpuset(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ",";
    absl::StrAppend(&out, cpus[i]);
    if (j > i) absl::StrAppend(&out, "-", cpus[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace vmmap
