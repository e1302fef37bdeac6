#include "server/cgroup_partition.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/base/files.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;

// A fresh cpuset cgroup has no CPUs or memory nodes: copy the parent's.
absl::Status InheritCpuset(const fs::path& parent, const fs::path& dir) {
  for (const char* knob : {"cpuset.cpus", "cpuset.mems"}) {
    absl::StatusOr<std::string> value = ReadFile((parent / knob).string());
    if (!value.ok()) return value.status();
    if (absl::Status s =
            WriteExistingFile((dir / knob).string(), absl::StripTrailingAsciiWhitespace(*value));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status EnsureCgroupfsPartition(const std::string& partition, const std::string& cgroup_root) {
  const std::string relative = LibvirtPartitionDir(partition);
  std::error_code ec;
  fs::directory_iterator mounts(cgroup_root, ec);
  // increment(ec), never operator++: a walk must not throw.
  for (; !ec && mounts != fs::directory_iterator(); mounts.increment(ec)) {
    const fs::directory_entry& mount = *mounts;
    std::error_code type_ec;
    if (!mount.is_directory(type_ec) || mount.is_symlink(type_ec)) continue;  // cpu -> cpu,cpuacct
    fs::path parent = mount.path();
    for (absl::string_view part : absl::StrSplit(relative, '/')) {
      fs::path dir = parent / std::string(part);
      std::error_code dir_ec;
      if (!fs::exists(dir, dir_ec)) {
        if (!fs::create_directory(dir, dir_ec)) {
          return absl::PermissionDeniedError(absl::StrCat("cannot create cgroup ", dir.string(),
                                                          " for libvirt partition ", partition,
                                                          ": ", dir_ec.message()));
        }
        if (fs::exists(dir / "cpuset.cpus", dir_ec)) {
          if (absl::Status s = InheritCpuset(parent, dir); !s.ok()) return s;
        }
      }
      parent = dir;
    }
  }
  if (ec) return absl::UnavailableError(absl::StrCat(cgroup_root, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace vmmap
