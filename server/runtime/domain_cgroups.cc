#include "server/runtime/domain_cgroups.h"

#include <errno.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "mapper/partition.h"
#include "server/base/errno_status.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;

constexpr char kLibvirtSuffix[] = ".libvirt-qemu";

// The domain name in "qemu-<id>-<name>.libvirt-qemu" or
// "qemu-embed-<hash>-<id>-<name>.libvirt-qemu" is whatever follows one of
// the dashes; domain names are unique, so a suffix match is exact enough.
bool NamesOneOf(const std::string& dir_name, const absl::flat_hash_set<std::string>& names) {
  if (!absl::StartsWith(dir_name, "qemu-") || !absl::EndsWith(dir_name, kLibvirtSuffix)) {
    return false;
  }
  const std::string stem = dir_name.substr(0, dir_name.size() - (sizeof kLibvirtSuffix - 1));
  for (size_t dash = stem.find('-'); dash != std::string::npos; dash = stem.find('-', dash + 1)) {
    if (names.contains(stem.substr(dash + 1))) return true;
  }
  return false;
}

// rmdir, children first. Cgroup control files vanish with their directory.
absl::Status RemoveCgroupTree(const fs::path& dir) {
  absl::Status first;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_directory(type_ec) || it->is_symlink(type_ec)) continue;
    if (absl::Status s = RemoveCgroupTree(it->path()); !s.ok() && first.ok()) first = s;
  }
  if (ec && ec != std::errc::no_such_file_or_directory && first.ok()) {
    first = ErrnoToStatus(ec.value(), absl::StrCat("listing cgroup ", dir.string()));
  }
  if (rmdir(dir.c_str()) != 0 && errno != ENOENT && first.ok()) {
    if (errno == EBUSY) {
      return absl::FailedPreconditionError(
          absl::StrCat("cgroup ", dir.string(), " still has tasks; kept"));
    }
    first = ErrnoToStatus(errno, absl::StrCat("removing cgroup ", dir.string()));
  }
  return first;
}

// Each controller's mount below the cgroup root, once ("cpu" and "cpuacct"
// may be links to "cpu,cpuacct").
std::vector<fs::path> ControllerMounts(const std::string& cgroup_root) {
  std::vector<fs::path> out;
  std::error_code ec;
  fs::directory_iterator mounts(cgroup_root, ec);
  // increment(ec), never operator++: a walk must not throw.
  for (; !ec && mounts != fs::directory_iterator(); mounts.increment(ec)) {
    std::error_code type_ec;
    if (!mounts->is_directory(type_ec) || mounts->is_symlink(type_ec)) continue;
    out.push_back(mounts->path());
  }
  return out;
}

}  // namespace

std::vector<std::string> DomainHelperCgroupDirs(const NodeConfig& node,
                                                const std::string& domain_name,
                                                const std::string& cgroup_root) {
  std::vector<std::string> out;
  if (node.cgroup_driver != CgroupDriver::kCgroupfs) return out;
  const std::string partition = LibvirtPartitionDir(node.node_partition);
  const absl::flat_hash_set<std::string> names = {domain_name};
  for (const fs::path& mount : ControllerMounts(cgroup_root)) {
    std::error_code ec;
    fs::directory_iterator domains(mount / partition, ec);
    for (; !ec && domains != fs::directory_iterator(); domains.increment(ec)) {
      if (!NamesOneOf(domains->path().filename().string(), names)) continue;
      std::error_code type_ec;
      const fs::path emulator = domains->path() / "emulator";
      out.push_back(fs::is_directory(emulator, type_ec) ? emulator.string()
                                                        : domains->path().string());
    }
  }
  return out;
}

absl::Status RemoveDomainCgroups(const NodeConfig& node,
                                 const absl::flat_hash_set<std::string>& domain_names,
                                 const std::string& cgroup_root) {
  if (node.cgroup_driver != CgroupDriver::kCgroupfs || domain_names.empty()) {
    return absl::OkStatus();
  }
  const std::string partition = LibvirtPartitionDir(node.node_partition);
  absl::Status first;
  for (const fs::path& mount : ControllerMounts(cgroup_root)) {
    std::error_code dir_ec;
    fs::directory_iterator domains(mount / partition, dir_ec);
    for (; !dir_ec && domains != fs::directory_iterator(); domains.increment(dir_ec)) {
      if (!NamesOneOf(domains->path().filename().string(), domain_names)) continue;
      if (absl::Status s = RemoveCgroupTree(domains->path()); !s.ok() && first.ok()) first = s;
    }
  }
  return first;
}

}  // namespace vmmap
