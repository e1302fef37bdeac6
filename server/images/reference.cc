#include "server/images/reference.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace vmmap::images_internal {
namespace {

constexpr char kDefaultDomain[] = "docker.io";
constexpr size_t kMaxNameLength = 255;

absl::Status Bad(absl::string_view reference, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid image reference \"", absl::CHexEscape(reference.substr(0, 300)), "\": ", why));
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// A path component: [a-z0-9]+ joined by ".", "_", "__" or runs of "-".
bool ValidComponent(absl::string_view c) {
  if (c.empty() || !IsLowerAlnum(c.front()) || !IsLowerAlnum(c.back())) {
    return false;
  }
  for (size_t i = 0; i < c.size(); ++i) {
    if (IsLowerAlnum(c[i])) continue;
    size_t j = i;
    while (j < c.size() && !IsLowerAlnum(c[j])) ++j;
    absl::string_view sep = c.substr(i, j - i);
    bool dashes = sep.find_first_not_of('-') == absl::string_view::npos;
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
    i = j - 1;
  }
  return true;
}

// host[:port]: DNS labels or an [IPv6] literal, optional numeric port.
bool ValidDomain(absl::string_view d) {
  absl::string_view host = d;
  if (absl::StartsWith(host, "[")) {
    size_t close = host.find(']');
    if (close == absl::string_view::npos) return false;
    for (char c : host.substr(1, close - 1)) {
      if (!(absl::ascii_isxdigit(c) || c == ':')) return false;
    }
    host = host.substr(close + 1);
    if (host.empty()) return true;
    if (host[0] != ':') return false;
    host = host.substr(1);
    return !host.empty() && host.size() <= 5 &&
           host.find_first_not_of("0123456789") == absl::string_view::npos;
  }
  size_t colon = host.rfind(':');
  if (colon != absl::string_view::npos) {
    absl::string_view port = host.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != absl::string_view::npos) {
      return false;
    }
    host = host.substr(0, colon);
  }
  if (host.empty()) return false;
  for (absl::string_view label : absl::StrSplit(host, '.')) {
    if (label.empty() || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!(absl::ascii_isalnum(c) || c == '-')) return false;
    }
  }
  return true;
}

bool ValidTag(absl::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  if (!(absl::ascii_isalnum(t[0]) || t[0] == '_')) return false;
  for (char c : t) {
    if (!(absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-')) {
      return false;
    }
  }
  return true;
}

bool ValidDigest(absl::string_view d) {
  if (!absl::ConsumePrefix(&d, "sha256:") || d.size() != 64) return false;
  for (char c : d) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string ImageReference::Name() const { return absl::StrCat(domain, "/", path); }

std::string ImageReference::Canonical() const {
  if (!digest.empty()) return absl::StrCat(Name(), "@", digest);
  return TagRef();
}

std::string ImageReference::TagRef() const {
  if (tag.empty()) return "";
  return absl::StrCat(Name(), ":", tag);
}

std::string ImageReference::RegistryHost() const {
  return domain == kDefaultDomain ? "registry-1.docker.io" : domain;
}

bool IsUrlReference(absl::string_view reference) {
  std::string lower = absl::AsciiStrToLower(reference.substr(0, 8));
  return absl::StartsWith(lower, "file://") || absl::StartsWith(lower, "http://") ||
         absl::StartsWith(lower, "https://");
}

absl::StatusOr<ImageReference> ParseImageReference(absl::string_view reference) {
  if (reference.empty()) return Bad(reference, "empty");
  if (reference.size() > 1024) return Bad(reference, "longer than 1024 bytes");
  for (char c : reference) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return Bad(reference, "contains spaces, control or non-ASCII bytes");
    }
  }
  ImageReference ref;
  absl::string_view rest = reference;
  size_t at = rest.find('@');
  if (at != absl::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    if (!ValidDigest(ref.digest)) {
      return Bad(reference,
                 "the digest must be sha256: followed by 64 lowercase hex "
                 "digits");
    }
    rest = rest.substr(0, at);
  }
  size_t slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != absl::string_view::npos && (slash == absl::string_view::npos || colon > slash)) {
    ref.tag = std::string(rest.substr(colon + 1));
    if (!ValidTag(ref.tag)) {
      return Bad(reference, absl::StrCat("invalid tag \"", ref.tag,
                                         "\" (letters, digits, _ . -; at "
                                         "most 128, not starting with . or -)"));
    }
    rest = rest.substr(0, colon);
  }
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";

  // The first component is a registry host if it looks like one.
  size_t first = rest.find('/');
  absl::string_view head = rest.substr(0, first);
  if (first != absl::string_view::npos &&
      (absl::StrContains(head, '.') || absl::StrContains(head, ':') || head == "localhost" ||
       absl::StartsWith(head, "["))) {
    if (!ValidDomain(head)) {
      return Bad(reference, absl::StrCat("invalid registry host \"", head, "\""));
    }
    ref.domain = absl::AsciiStrToLower(head);
    rest = rest.substr(first + 1);
  } else {
    ref.domain = kDefaultDomain;
  }
  if (ref.domain == "index.docker.io") ref.domain = kDefaultDomain;
  if (ref.domain == kDefaultDomain && !absl::StrContains(rest, '/')) {
    ref.path = absl::StrCat("library/", rest);
  } else {
    ref.path = std::string(rest);
  }
  for (absl::string_view component : absl::StrSplit(ref.path, '/')) {
    if (!ValidComponent(component)) {
      return Bad(reference, absl::StrCat("invalid repository path component \"", component,
                                         "\" (lowercase letters and digits, separated by "
                                         ". _ __ or -)"));
    }
  }
  if (ref.Name().size() > kMaxNameLength) {
    return Bad(reference, "the repository name is longer than 255 characters");
  }
  return ref;
}

}  // namespace vmmap::images_internal
