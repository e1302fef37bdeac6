#include "server/cgroup_partition.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string s = buffer.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool WriteFile(const fs::path& path, const std::string& value) {
  std::ofstream out(path);
  out << value;
  return static_cast<bool>(out.flush());
}

}  // namespace

std::string LibvirtPartitionDir(const std::string& partition) {
  std::string dir;
  for (absl::string_view part : absl::StrSplit(partition, '/', absl::SkipEmpty())) {
    if (!dir.empty()) dir += "/";
    absl::StrAppend(&dir, part);
    if (part.find('.') == absl::string_view::npos) dir += ".partition";
  }
  return dir;
}

absl::Status EnsureCgroupfsPartition(const std::string& partition, const std::string& cgroup_root) {
  const std::string relative = LibvirtPartitionDir(partition);
  std::error_code ec;
  for (const fs::directory_entry& mount : fs::directory_iterator(cgroup_root, ec)) {
    if (!mount.is_directory() || mount.is_symlink()) continue;  // cpu -> cpu,cpuacct links
    fs::path parent = mount.path();
    for (absl::string_view part : absl::StrSplit(relative, '/')) {
      fs::path dir = parent / std::string(part);
      if (!fs::exists(dir)) {
        if (!fs::create_directory(dir, ec)) {
          return absl::PermissionDeniedError(absl::StrCat(
              "cannot create cgroup ", dir.string(), " for libvirt partition ", partition, ": ",
              ec.message()));
        }
        if (fs::exists(dir / "cpuset.cpus")) {
          WriteFile(dir / "cpuset.cpus", ReadFile(parent / "cpuset.cpus"));
          WriteFile(dir / "cpuset.mems", ReadFile(parent / "cpuset.mems"));
        }
      }
      parent = dir;
    }
  }
  if (ec) return absl::UnavailableError(absl::StrCat(cgroup_root, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace vmmap
