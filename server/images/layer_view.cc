#include "server/base/errno_status.h"
#include "server/images/layer_view.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/images/byte_source.h"
#include "server/images/fs_util.h"
#include "server/images/tar_bundle.h"
#include "server/images/tar_reader.h"

namespace vmmap::images_internal {
namespace {

constexpr size_t kMaxNodes = 1 << 20;
constexpr size_t kMaxPathLength = 4096;       // PATH_MAX
constexpr uint64_t kMaxPathBytes = 64 << 20;  // all names held at once
constexpr size_t kMaxCmdline = 4096;
constexpr int kMaxSymlinkHops = 8;
constexpr char kWhiteout[] = ".wh.";
constexpr char kOpaque[] = ".wh..wh..opq";

// Paths whose contents are kept: what Classify may need.
bool WantsContent(const std::string& path) {
  if (absl::StartsWith(path, "boot/")) return true;
  return absl::StartsWith(path, "disk/") && path.find('/', 5) == std::string::npos;
}

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : absl::StrCat(dir, "/", name);
}

// Normalises a link target relative to `dir` inside the image; false if it
// climbs above the root (which the image cannot name).
bool ResolveInside(const std::string& dir, const std::string& target, std::string* out) {
  std::vector<std::string> parts;
  if (!absl::StartsWith(target, "/")) {
    for (absl::string_view p : absl::StrSplit(dir, '/', absl::SkipEmpty())) {
      parts.emplace_back(p);
    }
  }
  for (absl::string_view p : absl::StrSplit(target, '/', absl::SkipEmpty())) {
    if (p == ".") continue;
    if (p == "..") {
      if (parts.empty()) return false;
      parts.pop_back();
      continue;
    }
    parts.emplace_back(p);
  }
  *out = absl::StrJoin(parts, "/");
  return true;
}

std::string Printable(const std::string& s) { return absl::CHexEscape(s.substr(0, 200)); }

}  // namespace

LayerView::LayerView(std::string stage_dir, uint64_t max_bytes, std::string what)
    : stage_dir_(std::move(stage_dir)), max_bytes_(max_bytes), what_(std::move(what)) {}

absl::Status LayerView::Refuse(const std::string& why) const {
  return absl::InvalidArgumentError(absl::StrCat("image ", what_, ": ", why));
}

void LayerView::RemoveLower(const std::string& path, bool children_only) {
  if (!children_only) {
    auto it = nodes_.find(path);
    if (it != nodes_.end() && it->second.layer < layer_) nodes_.erase(it);
  }
  std::string prefix = path.empty() ? "" : absl::StrCat(path, "/");
  for (auto it = nodes_.lower_bound(prefix);
       it != nodes_.end() && absl::StartsWith(it->first, prefix);) {
    if (it->second.layer < layer_) {
      it = nodes_.erase(it);
    } else {
      ++it;
    }
  }
}

absl::Status LayerView::ApplyLayer(int layer_fd, const std::string& layer_digest) {
  ++layer_;
  const std::string what = absl::StrCat("image ", what_, ": layer ", layer_digest);
  absl::StatusOr<std::unique_ptr<ByteSource>> source =
      DecompressingSource(layer_fd, max_bytes_, what);
  if (!source.ok()) return source.status();
  TarReader tar(**source, what);
  TarEntry entry;
  while (true) {
    absl::StatusOr<bool> more = tar.Next(&entry);
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (entry.name.empty()) continue;  // the archive root "./"
    const std::string dir = Parent(entry.name);
    const std::string base = dir.empty() ? entry.name : entry.name.substr(dir.size() + 1);
    if (base == kOpaque) {
      RemoveLower(dir, /*children_only=*/true);
      continue;
    }
    if (absl::StartsWith(base, kWhiteout)) {
      RemoveLower(Join(dir, base.substr(sizeof kWhiteout - 1)), false);
      continue;
    }
    if (nodes_.size() >= kMaxNodes) {
      return tar.Bad("more than 1048576 entries in the image");
    }
    if (entry.name.size() > kMaxPathLength) {
      return tar.Bad(
          absl::StrCat("an entry name is ", entry.name.size(), " bytes long (at most 4096)"));
    }
    path_bytes_ += entry.name.size() + entry.link.size();
    if (path_bytes_ > kMaxPathBytes) {
      return tar.Bad("the image's entry names add up to more than 64 MiB");
    }
    Node node;
    node.layer = layer_;
    if (entry.type == '5') {
      node.type = '5';
      auto it = nodes_.find(entry.name);
      if (it != nodes_.end() && it->second.type == '5') {
        it->second.layer = layer_;  // a directory stays a directory
        continue;
      }
    } else if (entry.type == '2') {
      node.type = '2';
      node.link = entry.link;
    } else if (entry.type == '1') {
      // A hard link is another name for a file earlier in the archive.
      std::string target;
      auto it = ResolveInside("", entry.link, &target) ? nodes_.find(target) : nodes_.end();
      if (it != nodes_.end() && it->second.type == '0') {
        node.type = '0';
        node.staged = it->second.staged;
      } else {
        node.type = 'o';
      }
    } else if (entry.IsRegular()) {
      node.type = '0';
      if (WantsContent(entry.name)) {
        if (staged_bytes_ + entry.size > max_bytes_) {
          return absl::ResourceExhaustedError(
              absl::StrCat(what, ": unpacks to more than the limit of ", max_bytes_,
                           " bytes (vmmap serve --max-image-size)"));
        }
        node.staged = absl::StrCat(stage_dir_, "/f", staged_files_++);
        UniqueFd out(
            open(node.staged.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!out.valid()) {
          return ErrnoToStatus(errno, absl::StrCat("create ", node.staged));
        }
        absl::Status s = tar.ReadData([&](absl::string_view piece) {
          return WriteAll(out.get(), piece.data(), piece.size(), node.staged);
        });
        if (!s.ok()) return s;
        staged_bytes_ += entry.size;
      }
    } else {
      node.type = 'o';  // devices, FIFOs: recorded, never created
    }
    // A non-directory replaces whatever was there, children included.
    if (node.type != '5') RemoveLower(entry.name, /*children_only=*/true);
    nodes_[entry.name] = std::move(node);
  }
  return absl::OkStatus();
}

absl::StatusOr<const LayerView::Node*> LayerView::ResolveFile(const std::string& path) const {
  std::string current = path;
  for (int hop = 0; hop <= kMaxSymlinkHops; ++hop) {
    auto it = nodes_.find(current);
    if (it == nodes_.end()) {
      return Refuse(absl::StrCat("/", Printable(path), " leads to /", Printable(current),
                                 ", which is not in the image"));
    }
    const Node& node = it->second;
    if (node.type == '0') {
      if (node.staged.empty()) {
        return Refuse(absl::StrCat("/", Printable(path), " leads to /", Printable(current),
                                   ", outside /boot and /disk"));
      }
      return &node;
    }
    if (node.type != '2') {
      return Refuse(absl::StrCat("/", Printable(path), " is not a regular file"));
    }
    std::string next;
    if (!ResolveInside(Parent(current), node.link, &next)) {
      return Refuse(
          absl::StrCat("/", Printable(path), " is a symbolic link that leaves the image"));
    }
    current = next;
  }
  return Refuse(absl::StrCat("/", Printable(path), " has more than 8 levels of symbolic links"));
}

absl::StatusOr<VmImageFiles> LayerView::Classify() const {
  std::vector<std::string> disks;
  for (auto it = nodes_.lower_bound("disk/");
       it != nodes_.end() && absl::StartsWith(it->first, "disk/"); ++it) {
    if (it->first.find('/', 5) == std::string::npos && it->second.type != '5') {
      disks.push_back(it->first);
    }
  }
  const bool has_kernel = nodes_.count("boot/vmlinuz") != 0;
  if (!disks.empty() && has_kernel) {
    return Refuse(
        "has both files under /disk/ and /boot/vmlinuz; a VM image is either "
        "a containerDisk (one disk file under /disk/) or a kernel image "
        "(/boot/vmlinuz)");
  }
  VmImageFiles files;
  if (disks.size() > 1) {
    std::vector<std::string> shown(disks.begin(),
                                   disks.begin() + std::min<size_t>(disks.size(), 5));
    return Refuse(absl::StrCat("has ", disks.size(), " files under /disk/ (",
                               Printable(absl::StrJoin(shown, ", ")),
                               "); a containerDisk has exactly one disk file (qcow2 or raw)"));
  }
  if (disks.size() == 1) {
    absl::StatusOr<const Node*> disk = ResolveFile(disks[0]);
    if (!disk.ok()) return disk.status();
    files.is_disk = true;
    files.disk = (*disk)->staged;
    files.disk_name = disks[0];
    return files;
  }
  if (has_kernel) {
    absl::StatusOr<const Node*> kernel = ResolveFile("boot/vmlinuz");
    if (!kernel.ok()) return kernel.status();
    files.kernel = (*kernel)->staged;
    if (nodes_.count("boot/initrd.img") != 0) {
      absl::StatusOr<const Node*> initrd = ResolveFile("boot/initrd.img");
      if (!initrd.ok()) return initrd.status();
      files.initrd = (*initrd)->staged;
    }
    if (nodes_.count("boot/cmdline") != 0) {
      absl::StatusOr<const Node*> cmdline = ResolveFile("boot/cmdline");
      if (!cmdline.ok()) return cmdline.status();
      UniqueFd fd(open((*cmdline)->staged.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
      if (!fd.valid()) return ErrnoToStatus(errno, "open staged cmdline");
      std::string text(kMaxCmdline + 1, '\0');
      absl::StatusOr<size_t> n = PreadFull(fd.get(), text.data(), text.size(), 0, "cmdline");
      if (!n.ok()) return n.status();
      if (*n > kMaxCmdline) return Refuse("/boot/cmdline is larger than 4096 bytes");
      text.resize(*n);
      absl::StatusOr<std::string> line =
          CheckCmdline(text, absl::StrCat("image ", what_, ": /boot/cmdline"));
      if (!line.ok()) return line.status();
      files.cmdline = *line;
    }
    return files;
  }
  std::vector<std::string> top;
  for (const auto& [path, node] : nodes_) {
    if (path.find('/') == std::string::npos) {
      top.push_back(node.type == '5' ? absl::StrCat("/", path, "/") : absl::StrCat("/", path));
    }
  }
  size_t shown = std::min<size_t>(top.size(), 12);
  std::string found =
      top.empty() ? "an empty filesystem"
                  : absl::StrCat(Printable(absl::StrJoin(top.begin(), top.begin() + shown, " ")),
                                 top.size() > shown ? " ..." : "");
  return Refuse(
      absl::StrCat("is neither a KubeVirt containerDisk (one disk file, qcow2 or raw, "
                   "under /disk/) nor a kernel image (/boot/vmlinuz, optional "
                   "/boot/initrd.img and /boot/cmdline); found ",
                   found));
}

}  // namespace vmmap::images_internal
