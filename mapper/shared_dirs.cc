#include "mapper/shared_dirs.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace vmmap {
namespace {

constexpr size_t kMaxHostPathBytes = 4096;  // PATH_MAX

absl::Status MountError(size_t index, const std::string& field, const std::string& value,
                        const std::string& why) {
  return absl::InvalidArgumentError(
      absl::StrCat("mounts[", index, "].", field, " ", QuoteValue(value), ": ", why));
}

// Normalised container_path, or an error naming the mount. Empty components
// ("//", a trailing '/') are dropped; "." and ".." are refused rather than
// resolved, because the guest resolves them against its own tree.
absl::StatusOr<std::string> NormalisedGuestPath(size_t index, const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return MountError(index, "container_path", path, "must be an absolute path");
  }
  if (path.size() > kMaxGuestPathBytes) {
    return MountError(index, "container_path", path,
                      absl::StrCat(path.size(), " bytes, over the limit of ", kMaxGuestPathBytes));
  }
  for (char c : path) {
    if (c < 0x20 || c > 0x7e) {
      return MountError(index, "container_path", path,
                        "only printable ASCII may reach the guest's mount instructions");
    }
  }
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (part == "." || part == "..") {
      return MountError(index, "container_path", path, "must not contain \".\" or \"..\"");
    }
    parts.emplace_back(part);
  }
  if (parts.empty()) {
    return MountError(index, "container_path", path, "cannot replace the guest's root");
  }
  std::string normalised = absl::StrCat("/", absl::StrJoin(parts, "/"));
  if (normalised == kReservedGuestDir ||
      absl::StartsWith(normalised, absl::StrCat(kReservedGuestDir, "/"))) {
    return MountError(index, "container_path", path,
                      absl::StrCat(kReservedGuestDir, " is reserved for vmmap's own mounts (",
                                   kFilesGuestDir, " holds the pod's file mounts)"));
  }
  return normalised;
}

// The guest path's parent directory ("/etc/hosts" -> "/etc", "/x" -> "/").
std::string ParentOf(const std::string& guest_path) {
  const size_t slash = guest_path.rfind('/');
  return slash == 0 ? "/" : guest_path.substr(0, slash);
}

std::string GuestSourceOf(const SharedFile& file) {
  return absl::StrCat(kFilesGuestDir, "/", file.tag);
}

absl::Status CheckHostPath(size_t index, const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return MountError(index, "host_path", path, "must be an absolute path");
  }
  if (path.size() > kMaxHostPathBytes || path.find('\0') != std::string::npos) {
    return MountError(index, "host_path", path, "is not a valid path");
  }
  return absl::OkStatus();
}

}  // namespace

const char* SharedFsTypeName(SharedFsDriver driver) {
  return driver == SharedFsDriver::kVirtiofs ? "virtiofs" : "9p";
}

absl::StatusOr<SharedFsDriver> SharedFsDriverFor(const Annotations& annotations) {
  auto it = annotations.find(kSharedFsAnnotation);
  if (it == annotations.end() || it->second == "virtiofs") return SharedFsDriver::kVirtiofs;
  if (it->second == "9p") return SharedFsDriver::k9p;
  return absl::InvalidArgumentError(absl::StrCat("annotation ", kSharedFsAnnotation, "=",
                                                 QuoteValue(it->second),
                                                 ": expected \"virtiofs\" or \"9p\""));
}

absl::StatusOr<std::vector<SharedDirectory>> PlanSharedDirectories(
    const std::vector<VolumeMount>& mounts, const Annotations& annotations) {
  absl::StatusOr<SharedFsDriver> driver = SharedFsDriverFor(annotations);
  if (!driver.ok()) return driver.status();
  if (mounts.size() > kMaxSharedDirectories) {
    return absl::InvalidArgumentError(absl::StrCat("mounts: ", mounts.size(),
                                                   " mounts, over vmmap's limit of ",
                                                   kMaxSharedDirectories, " shares per VM"));
  }
  std::vector<SharedDirectory> shares;
  SharedDirectory files;
  files.tag = kFilesShareTag;
  files.guest_path = kFilesGuestDir;
  files.driver = *driver;
  std::set<std::string> seen;
  for (size_t i = 0; i < mounts.size(); ++i) {
    const VolumeMount& m = mounts[i];
    absl::StatusOr<std::string> guest_path = NormalisedGuestPath(i, m.container_path);
    if (!guest_path.ok()) return guest_path.status();
    if (absl::Status s = CheckHostPath(i, m.host_path); !s.ok()) return s;
    if (!seen.insert(*guest_path).second) {
      return MountError(i, "container_path", m.container_path, "another mount uses this path");
    }
    if (m.host_kind == HostPathKind::kFile) {
      files.files.push_back(
          SharedFile{absl::StrCat("vol", i), m.host_path, *std::move(guest_path), m.read_only});
      continue;
    }
    SharedDirectory share;
    share.tag = absl::StrCat("vol", i);
    share.source_dir = m.host_path;
    share.guest_path = *std::move(guest_path);
    share.read_only = m.read_only;
    share.driver = *driver;
    shares.push_back(std::move(share));
  }
  // Mounted read-write: each file's own view (and the guest's bind) holds
  // read-only files read-only; the termination log must be writable.
  if (!files.files.empty()) shares.push_back(std::move(files));
  return shares;
}

std::string PercentEncodePath(const std::string& path) {
  std::string out;
  out.reserve(path.size());
  for (char c : path) {
    if (absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '/' || c == '-') {
      out.push_back(c);
    } else {
      absl::StrAppendFormat(&out, "%%%02X", static_cast<unsigned char>(c));
    }
  }
  return out;
}

std::string GuestMountArgument(const SharedDirectory& share) {
  return absl::StrCat("vmmap.mount=", share.tag, ",", SharedFsTypeName(share.driver), ",",
                      share.read_only ? "ro" : "rw", ",", PercentEncodePath(share.guest_path));
}

std::string GuestFileArgument(const SharedFile& file) {
  return absl::StrCat("vmmap.file=", PercentEncodePath(GuestSourceOf(file)), ",",
                      file.read_only ? "ro" : "rw", ",", PercentEncodePath(file.guest_path));
}

std::vector<std::string> GuestMountArguments(const std::vector<SharedDirectory>& shares) {
  std::vector<std::string> words;
  for (const SharedDirectory& share : shares) {
    words.push_back(GuestMountArgument(share));
    for (const SharedFile& file : share.files) words.push_back(GuestFileArgument(file));
  }
  return words;
}

std::vector<std::vector<std::string>> GuestMountCommands(const SharedDirectory& share) {
  std::string options = share.read_only ? "ro" : "rw";
  if (share.driver == SharedFsDriver::k9p) options += ",trans=virtio,version=9p2000.L";
  std::vector<std::vector<std::string>> commands = {
      {"mkdir", "-p", share.guest_path},
      {"mount", "-t", SharedFsTypeName(share.driver), "-o", options, share.tag, share.guest_path}};
  for (const SharedFile& file : share.files) {
    commands.push_back({"mkdir", "-p", ParentOf(file.guest_path)});
    commands.push_back({"touch", file.guest_path});
    commands.push_back({"mount", "--bind", GuestSourceOf(file), file.guest_path});
    if (file.read_only) commands.push_back({"mount", "-o", "remount,bind,ro", file.guest_path});
  }
  return commands;
}

}  // namespace vmmap
