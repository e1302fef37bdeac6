// Internal: an image's filesystem, built from its layers in order (OCI
// whiteouts `.wh.<name>` and opaque directories `.wh..wh..opq` included),
// and what kind of VM image it is.
//
// Nothing from a layer is ever written at a path it names: the view is a map
// from archive path to node, and only the contents of regular files directly
// under disk/ or anywhere under boot/ are written, to numbered files inside
// `stage_dir` (which the caller places inside the store and removes).
// Symbolic links are recorded, never created; they are followed only inside
// the view (at most 8 hops), never on the host.
#ifndef VMMAP_SERVER_IMAGES_LAYER_VIEW_H_
#define VMMAP_SERVER_IMAGES_LAYER_VIEW_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace vmmap::images_internal {

// The files of an accepted VM image, staged inside the store.
struct VmImageFiles {
  bool is_disk = false;   // a KubeVirt containerDisk
  std::string disk;       // staged path of the one file under /disk/
  std::string disk_name;  // its name in the image, e.g. "disk/vm.qcow2"
  std::string kernel;     // staged /boot/vmlinuz
  std::string initrd;     // staged /boot/initrd.img, or empty
  std::string cmdline;    // /boot/cmdline's one line, or empty
};

class LayerView {
 public:
  // `max_bytes` bounds what is unpacked (per layer) and staged (in total);
  // `what` names the image in errors.
  LayerView(std::string stage_dir, uint64_t max_bytes, std::string what);

  // Applies one layer (tar, tar+gzip or tar+zstd, detected from its bytes).
  absl::Status ApplyLayer(int layer_fd, const std::string& layer_digest);

  // A containerDisk (exactly one file under /disk/) or a kernel image
  // (/boot/vmlinuz, optional /boot/initrd.img and one-line /boot/cmdline);
  // InvalidArgument naming what was found otherwise.
  absl::StatusOr<VmImageFiles> Classify() const;

 private:
  struct Node {
    char type = '0';     // tar type: '0' file, '5' dir, '2' symlink, 'o' other
    std::string staged;  // regular files under disk/ or boot/
    std::string link;    // symlinks
    int layer = 0;
  };
  void RemoveLower(const std::string& path, bool children_only);
  // Follows symlinks inside the view; the regular file node or an error.
  absl::StatusOr<const Node*> ResolveFile(const std::string& path) const;
  absl::Status Refuse(const std::string& why) const;

  const std::string stage_dir_;
  const uint64_t max_bytes_;
  const std::string what_;
  std::map<std::string, Node> nodes_;
  int layer_ = 0;
  uint64_t staged_bytes_ = 0;
  uint64_t staged_files_ = 0;
  uint64_t path_bytes_ = 0;  // names and link targets seen, bounds memory
};

}  // namespace vmmap::images_internal

#endif  // VMMAP_SERVER_IMAGES_LAYER_VIEW_H_
