#include "server/images/image_index.h"

#include <algorithm>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/images/reference.h"

namespace vmmap::images_internal {
namespace {

constexpr char kHeader[] = "vmmap-image-index 1";
constexpr char kIdPrefix[] = "sha256:";

bool IsHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// References are percent-encoded so that they hold no spaces, newlines or
// other bytes outside printable ASCII.
std::string Escape(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f || c == '%') {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

bool Unescape(absl::string_view s, std::string* out) {
  out->clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out->push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return false;
    int v = 0;
    for (int k = 1; k <= 2; ++k) {
      char c = s[i + k];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= c - '0';
      else if (c >= 'a' && c <= 'f')
        v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        v |= c - 'A' + 10;
      else
        return false;
    }
    out->push_back(static_cast<char>(v));
    i += 2;
  }
  return true;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

absl::StatusOr<IndexMap> ParseIndex(absl::string_view text, const std::string& path) {
  auto corrupt = [&](size_t line_no, absl::string_view why) {
    return absl::DataLossError(absl::StrCat("image index ", path, " line ", line_no, ": ", why));
  };
  IndexMap index;
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  if (lines.empty() || lines[0] != kHeader) return corrupt(1, "unknown header");
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<absl::string_view> f = absl::StrSplit(lines[i], ' ');
    if (f.size() == 4 && f[0] == "image") {
      if (f[1].size() != 64 || !IsHex(f[1])) return corrupt(i + 1, "bad id");
      IndexEntry e;
      if (f[2] == "disk") {
        e.disk_format = DiskFormat::kQcow2;
      } else if (f[2] == "raw") {
        e.disk_format = DiskFormat::kRaw;
      } else if (f[2] == "bundle") {
        e.is_bundle = true;
      } else {
        return corrupt(i + 1, "bad kind");
      }
      if (!absl::SimpleAtoi(f[3], &e.size_bytes)) {
        return corrupt(i + 1, "bad size");
      }
      index[std::string(f[1])] = std::move(e);
    } else if (f.size() == 3 && (f[0] == "tag" || f[0] == "digest")) {
      auto it = index.find(std::string(f[1]));
      if (it == index.end()) return corrupt(i + 1, "reference to unknown image");
      std::string ref;
      if (!Unescape(f[2], &ref)) return corrupt(i + 1, "bad reference");
      if (f[0] == "tag") {
        AddTag(index, it->first, ref);
      } else {
        AddRepoDigest(index, it->first, ref);
      }
    } else {
      return corrupt(i + 1, "unknown record");
    }
  }
  return index;
}

std::string SerializeIndex(const IndexMap& index) {
  std::string out = absl::StrCat(kHeader, "\n");
  for (const auto& [hex, e] : index) {
    const char* kind = e.is_bundle ? "bundle" : e.disk_format == DiskFormat::kRaw ? "raw" : "disk";
    absl::StrAppend(&out, "image ", hex, " ", kind, " ", e.size_bytes, "\n");
    for (const std::string& tag : e.tags) {
      absl::StrAppend(&out, "tag ", hex, " ", Escape(tag), "\n");
    }
    for (const std::string& d : e.repo_digests) {
      absl::StrAppend(&out, "digest ", hex, " ", Escape(d), "\n");
    }
  }
  return out;
}

void AddTag(IndexMap& index, const std::string& hex, const std::string& tag) {
  for (auto& [other, e] : index) {
    if (other == hex) continue;
    e.tags.erase(std::remove(e.tags.begin(), e.tags.end(), tag), e.tags.end());
  }
  std::vector<std::string>& tags = index[hex].tags;
  if (!Contains(tags, tag)) tags.push_back(tag);
}

void AddRepoDigest(IndexMap& index, const std::string& hex, const std::string& repo_digest) {
  std::vector<std::string>& digests = index[hex].repo_digests;
  if (!Contains(digests, repo_digest)) digests.push_back(repo_digest);
}

absl::StatusOr<Resolved> ResolveReference(const IndexMap& index, const std::string& reference) {
  auto find_ref = [&](const std::string& ref) -> std::optional<Resolved> {
    for (const auto& [hex, e] : index) {
      if (Contains(e.tags, ref)) return Resolved{hex, ref, false};
      if (Contains(e.repo_digests, ref)) return Resolved{hex, ref, true};
    }
    return std::nullopt;
  };
  if (std::optional<Resolved> r = find_ref(reference)) return *r;
  if (!IsUrlReference(reference)) {
    absl::StatusOr<ImageReference> parsed = ParseImageReference(reference);
    if (parsed.ok()) {
      std::string normal = parsed->digest.empty()
                               ? parsed->TagRef()
                               : absl::StrCat(parsed->Name(), "@", parsed->digest);
      if (std::optional<Resolved> r = find_ref(normal)) return *r;
    }
  }
  absl::string_view digest = reference;
  absl::ConsumePrefix(&digest, kIdPrefix);
  if (digest.size() >= 12 && digest.size() <= 64 && IsHex(digest)) {
    auto it = index.lower_bound(std::string(digest));
    if (it != index.end() && absl::StartsWith(it->first, digest)) {
      auto next = std::next(it);
      if (next != index.end() && absl::StartsWith(next->first, digest)) {
        return absl::InvalidArgumentError(
            absl::StrCat("image reference ", reference, " is ambiguous"));
      }
      return Resolved{it->first, "", false};
    }
  }
  return absl::NotFoundError(
      absl::StrCat("image ", absl::CHexEscape(reference.substr(0, 300)), " not found"));
}

}  // namespace vmmap::images_internal
