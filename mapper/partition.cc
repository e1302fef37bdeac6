#include "mapper/partition.h"

#include <cctype>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "mapper/annotations.h"

namespace vmmap {
namespace {

bool IsSliceChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == ':';
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

absl::StatusOr<std::string> ResourcePartitionFor(const std::string& cgroup_parent,
                                                 const NodeConfig& node, Explanation& explanation) {
  if (node.cgroup_driver == CgroupDriver::kCgroupfs || cgroup_parent.empty()) {
    explanation.Add("resource/partition", absl::StrCat("cgroup_parent ", QuoteValue(cgroup_parent)),
                    node.cgroup_driver == CgroupDriver::kCgroupfs
                        ? "cgroupfs node: libvirt cannot nest under kubelet's pod cgroup, use the "
                          "node partition (docs/cgroups.md)"
                        : "no cgroup_parent: use the node partition",
                    node.node_partition);
    return node.node_partition;
  }
  // Accept either a bare slice name or a full path ending in one.
  absl::string_view slice = cgroup_parent;
  if (size_t slash = slice.rfind('/'); slash != absl::string_view::npos) {
    slice = slice.substr(slash + 1);
  }
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("linux.cgroup_parent=", QuoteValue(cgroup_parent), ": ", why));
  };
  if (absl::StrContains(cgroup_parent, "..")) return invalid("must not contain \"..\"");
  if (!absl::ConsumeSuffix(&slice, ".slice") || slice.empty()) {
    return invalid("expected a systemd slice such as kubepods-burstable-pod<uid>.slice");
  }
  std::vector<absl::string_view> parts = absl::StrSplit(slice, '-');
  for (absl::string_view part : parts) {
    if (part.empty()) return invalid("empty component in slice name");
    for (char c : part) {
      if (!IsSliceChar(c)) return invalid("unexpected character in slice name");
    }
  }
  std::string partition = absl::StrCat("/", absl::StrJoin(parts, "/"));
  explanation.Add("resource/partition", absl::StrCat("cgroup_parent ", QuoteValue(cgroup_parent)),
                  "systemd node: slice a-b-c.slice is libvirt partition /a/b/c, which libvirt "
                  "maps back to the same slice, so the VM is charged to the pod",
                  partition);
  return partition;
}

}  // namespace vmmap
