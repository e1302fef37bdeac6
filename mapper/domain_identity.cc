#include "mapper/domain_identity.h"

#include <cctype>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "mapper/annotations.h"

namespace vmmap {
namespace {

constexpr size_t kMaxKubernetesName = 253;
constexpr size_t kNamespacePart = 16;
constexpr size_t kNamePart = 26;

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

absl::Status CheckField(const std::string& value, const char* field, bool may_be_empty) {
  if (value.empty() && may_be_empty) return absl::OkStatus();
  bool ok = !value.empty() && value.size() <= kMaxKubernetesName;
  for (char c : value) ok = ok && IsNameChar(c);
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, "=", QuoteValue(value),
                   ": must be 1-253 characters of letters, digits, '-', '.' or '_'"));
}

std::string IdentityKey(const PodIdentity& id) {
  // NUL cannot appear in a validated field, so the key is unambiguous.
  std::string key = absl::StrCat(id.namespace_name, std::string(1, '\0'), id.name,
                                 std::string(1, '\0'), id.uid, std::string(1, '\0'), id.attempt);
  // A restarted container needs a new domain while the old one may still be
  // defined; first containers keep the key (and name) of the pod alone.
  if (id.container_attempt != 0) absl::StrAppend(&key, std::string("\0c", 2), id.container_attempt);
  return key;
}

}  // namespace

uint64_t StableHash(absl::string_view data, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ULL ^ seed;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  // FNV-1a mixes the last bytes poorly; finish with a splitmix64 step.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

absl::Status ValidatePodIdentity(const PodIdentity& identity) {
  if (absl::Status s = CheckField(identity.namespace_name, "metadata.namespace", false); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckField(identity.name, "metadata.name", false); !s.ok()) return s;
  return CheckField(identity.uid, "metadata.uid", true);
}

std::string DomainNameFor(const PodIdentity& identity) {
  const uint64_t hash = StableHash(IdentityKey(identity));
  std::string name =
      absl::StrCat(kDomainNamePrefix, identity.namespace_name.substr(0, kNamespacePart), "-",
                   identity.name.substr(0, kNamePart), "-", absl::StrFormat("%012x", hash >> 16));
  return name;
}

std::string DomainUuidFor(const PodIdentity& identity) {
  const std::string key = IdentityKey(identity);
  uint64_t hi = StableHash(key, 0x766d6d6170ULL);  // "vmmap"
  uint64_t lo = StableHash(key, 0x75756964ULL);    // "uuid"
  hi = (hi & ~0xF000ULL) | 0x8000ULL;              // version 8
  lo = (lo & ~(0xC0ULL << 56)) | (0x80ULL << 56);  // RFC 4122 variant
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32, (hi >> 16) & 0xFFFF, hi & 0xFFFF,
                         lo >> 48, lo & 0xFFFFFFFFFFFFULL);
}

}  // namespace vmmap
