#include "mapper/units.h"

#include "absl/strings/str_cat.h"

namespace vmmap {

std::string FormatMilli(int64_t milli_cpu) { return absl::StrCat(milli_cpu, "m"); }

std::string FormatBytes(int64_t bytes) {
  static constexpr struct {
    const char* suffix;
    int shift;
  } kUnits[] = {{"Ti", 40}, {"Gi", 30}, {"Mi", 20}, {"Ki", 10}};
  for (const auto& unit : kUnits) {
    const int64_t size = int64_t{1} << unit.shift;
    if (bytes >= size && bytes % size == 0) {
      return absl::StrCat(bytes, " bytes (", bytes / size, unit.suffix, ")");
    }
  }
  return absl::StrCat(bytes, " bytes");
}

}  // namespace vmmap
