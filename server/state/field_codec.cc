#include "server/state/field_codec.h"

#include "absl/strings/str_cat.h"

namespace vmmap::state_internal {
namespace {

void Append(std::string& out, absl::string_view item) {
  absl::StrAppend(&out, item.size(), ":", item);
}

}  // namespace

std::string EncodeStrings(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) Append(out, item);
  return out;
}

std::string EncodeStringMap(const StringMap& map) {
  std::string out;
  for (const auto& [key, value] : map) {
    Append(out, key);
    Append(out, value);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> DecodeStrings(absl::string_view bytes) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t length = 0;
    size_t digits = 0;
    while (pos < bytes.size() && bytes[pos] >= '0' && bytes[pos] <= '9') {
      if (++digits > 10)
        return absl::InvalidArgumentError(absl::StrCat("length too long at byte ", pos));
      length = length * 10 + static_cast<size_t>(bytes[pos] - '0');
      ++pos;
    }
    if (digits == 0 || pos >= bytes.size() || bytes[pos] != ':') {
      return absl::InvalidArgumentError(absl::StrCat("expected <length>: at byte ", pos));
    }
    ++pos;
    if (length > bytes.size() - pos) {
      return absl::InvalidArgumentError(
          absl::StrCat("item of ", length, " bytes at byte ", pos, " runs past the end"));
    }
    out.emplace_back(bytes.substr(pos, length));
    pos += length;
  }
  return out;
}

absl::StatusOr<StringMap> DecodeStringMap(absl::string_view bytes) {
  absl::StatusOr<std::vector<std::string>> items = DecodeStrings(bytes);
  if (!items.ok()) return items.status();
  if (items->size() % 2 != 0) return absl::InvalidArgumentError("a key without a value");
  StringMap out;
  for (size_t i = 0; i < items->size(); i += 2) {
    if (!out.emplace((*items)[i], (*items)[i + 1]).second) {
      return absl::InvalidArgumentError(absl::StrCat("key \"", (*items)[i], "\" appears twice"));
    }
  }
  return out;
}

}  // namespace vmmap::state_internal
