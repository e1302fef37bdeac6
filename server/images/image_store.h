// The VM image store: content-addressed under <state-dir>/images.
//
// Images come from two kinds of references:
//  * docker references (`busybox`, `host:5000/team/vm:1.2`, `vm@sha256:...`),
//    normalised as containerd does and pulled over the OCI distribution API
//    (registry_pull.h). The layers, applied in order with whiteouts, must
//    form a KubeVirt containerDisk (one qcow2 or raw file under /disk/) or a
//    kernel image (/boot/vmlinuz, optional /boot/initrd.img and one-line
//    /boot/cmdline); see layer_view.h. The id is the config digest, as in
//    containerd; tags are normalised names (docker.io/library/busybox:latest)
//    and repo digests name@sha256:<manifest digest>.
//  * names under a Virtlet prefix (virtlet.cloud/NAME), translated to a URL
//    by the --image-translations file (translations.h); the tag is the name.
//  * URLs (file:///abs/path, http://..., https://...) of one file: a qcow2
//    disk, or a kernel bundle (a tar holding vmlinuz, optionally initrd.img
//    and cmdline; see tar_bundle.h). The id is the sha256 of the file; the
//    tag is the URL.
// Every disk is inspected before it is stored (disk_inspect.h): backing
// files, data files and formats other than qcow2/raw are refused.
//
// An image is addressable by any tag or repo digest, by the normalised form
// of a docker reference, by its id "sha256:<64 hex>" or by an id prefix of at
// least 12 hex digits. A tag names at most one image: pulling a reference
// again that now yields another image moves the tag (the old image stays,
// addressable by its id).
//
// Layout under the root:
//   index                 image_index.h; written to .index.tmp.XXXXXX,
//                         fsync'ed, renamed
//   lock                  flock'ed while an ImageStore is open
//   tmp/                  downloads and staging, 0700; emptied by Open
//   sha256/<hex>/image    a disk (0644), or the bundle's tar for URL bundles
//   sha256/<hex>/vmlinuz, initrd.img, cmdline    kernels
// A pull works in its own directory under tmp/, stages a complete image
// directory and renames it to sha256/<hex>, so a crash never leaves a half
// image under its id; directories under sha256/ that the index does not know
// (a crash between the rename and the index write) are deleted by Open. A
// failed pull removes its directory: nothing is left behind.
//
// Thread-safety: every method may be called concurrently. Pull and
// CreateOverlay block (network, disk, a child process) WITHOUT holding the
// store's lock, so concurrent pulls proceed in parallel and Find/List stay
// fast while a pull runs; the lock is held only for index updates, which
// include an fsync of the index file. Concurrent pulls of the same reference
// share one download.
#ifndef VMMAP_SERVER_IMAGES_IMAGE_STORE_H_
#define VMMAP_SERVER_IMAGES_IMAGE_STORE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/images/image_index.h"
#include "server/images/registry_client.h"
#include "server/images/translations.h"

namespace vmmap {

enum class ImageKind { kDisk, kKernelBundle };

// "disk" / "bundle".
const char* ImageKindName(ImageKind kind);

struct ImageRecord {
  std::string id;                         // "sha256:<hex>"
  std::vector<std::string> tags;          // references it was pulled under
  std::vector<std::string> repo_digests;  // name@sha256:<manifest digest>
  ImageKind kind = ImageKind::kDisk;
  uint64_t size_bytes = 0;  // the pulled file, or the registry blobs
  // Absolute paths inside the store.
  std::string disk_path;    // disk images (empty for kernels)
  std::string disk_format;  // disks: "qcow2" or "raw", as inspected
  std::string kernel_path;  // kernels
  std::string initrd_path;  // kernels (empty if there is none)
  std::string cmdline;      // kernels: the image's one-line command line
};

struct FsUsage {
  std::string mountpoint;    // the filesystem holding the store
  uint64_t used_bytes = 0;   // bytes the store's files occupy (st_blocks*512)
  uint64_t inodes_used = 0;  // files and directories in the store (incl. root)
};

// Limits and policy of pulls; pod and image authors choose what is pulled,
// so every pull is bounded.
struct ImageStoreOptions {
  // Bytes one pull may download, and unpack (layered images).
  uint64_t max_image_bytes = 4ull << 30;
  // Wall time one pull may take, waiting for a pull slot included.
  std::chrono::seconds pull_timeout{std::chrono::minutes(30)};
  // Pulls that download at once; further pulls wait for a slot.
  int max_concurrent_pulls = 3;
  // file:// pulls are allowed only for files below this directory (resolved,
  // symlinks included); empty: no file:// pulls at all.
  std::string file_import_root;
  // Registries (HOST or HOST:PORT) reached over plain http; loopback
  // registries always are. All others use https.
  std::vector<std::string> insecure_registries;
  // Virtlet image translations (translations.h): names under
  // `translation_prefix` are pulled from the URL the file gives them.
  std::string translations_file;  // empty: such names are refused
  std::string translation_prefix = "virtlet.cloud/";
  // How long `qemu-img info` / `qemu-img create` may run.
  std::chrono::seconds qemu_img_timeout{60};
};

class ImageStore {
 public:
  // Returns the user of image `id` ("sha256:<hex>"), e.g. a container id, or
  // nullopt if nothing uses it.
  using InUseFn = std::function<std::optional<std::string>(const std::string& id)>;

  // Opens (creating if needed) the store under `root` (an absolute path, e.g.
  // <state-dir>/images) and loads its index. Leftover temp files from a crash
  // are removed. FailedPrecondition if another ImageStore (in this or another
  // process) holds the store open; DataLoss if the index is corrupt.
  static absl::StatusOr<std::unique_ptr<ImageStore>> Open(std::string root,
                                                          ImageStoreOptions options = {});

  ~ImageStore();
  ImageStore(const ImageStore&) = delete;
  ImageStore& operator=(const ImageStore&) = delete;

  // Pulls `reference` (a docker reference or a URL, see above) and records
  // its tag. Idempotent: pulling the same image again only adds the tag.
  // Blocks for the whole transfer, bounded by the options' pull_timeout,
  // max_image_bytes and max_concurrent_pulls. `auth` is used for registry
  // pulls only. `cancelled` (may be empty) is polled while the call waits or
  // downloads: once it returns true the call returns Cancelled, and the
  // download stops unless another caller still waits for it.
  // Errors (the message names the reference and, for content, the field):
  // InvalidArgument for an unparsable reference or unacceptable content
  // (hostile archives, backing files, neither a containerDisk nor a kernel);
  // Unauthenticated when the registry wants (other) credentials;
  // PermissionDenied for a file:// path outside file_import_root, an
  // unreadable file or HTTP 403; NotFound for a missing file, tag or
  // repository; Unavailable for network failures (a registry that went
  // away) and HTTP 5xx/408/429; ResourceExhausted if the disk is full or
  // the image exceeds max_image_bytes; DeadlineExceeded past pull_timeout;
  // DataLoss if a blob or the stored bytes do not match their digest.
  // Nothing is left in the store on error.
  absl::StatusOr<ImageRecord> Pull(const std::string& reference, const RegistryAuth& auth = {},
                                   const std::function<bool()>& cancelled = nullptr);

  // Finds by any reference (see above). NotFound if nothing matches,
  // InvalidArgument if an id prefix is ambiguous.
  absl::StatusOr<ImageRecord> Find(const std::string& reference) const;

  // All images, sorted by id.
  std::vector<ImageRecord> List() const;

  // Removes what `reference` names: a tag or repo digest that resolves to an
  // image with other tags is just untagged; otherwise (an id, an id prefix,
  // the last tag) the image goes, with all its references. `in_use` is called
  // with the image id, only when the image itself would go, WITHOUT the
  // store's lock held (it may call back into the store); FailedPrecondition
  // naming the user if it returns one. NotFound for an unknown reference.
  absl::Status Remove(const std::string& reference, const InUseFn& in_use);

  // Creates a qcow2 overlay at `overlay_path` (absolute; must not exist yet:
  // AlreadyExists otherwise) backed by the image's disk, by running
  // `qemu-img create -f qcow2 -F <disk_format> -b <disk> <overlay>` (no
  // shell; the backing format is pinned, never probed).
  // The image is looked up again by `image.id`, so the backing path always
  // comes from the store. FailedPrecondition for kernels, NotFound if the
  // image was removed, Internal with qemu-img's stderr if it fails.
  // Blocks until qemu-img exits.
  absl::Status CreateOverlay(const ImageRecord& image, const std::string& overlay_path) const;

  // Walks the store (blocking, without the lock; concurrent removals are
  // tolerated) and /proc/self/mountinfo.
  absl::StatusOr<FsUsage> Usage() const;

  const std::string& root() const { return root_; }

 private:
  // A complete image directory staged under tmp/, ready to be committed.
  struct Staged {
    std::string hex;
    std::string dir;  // may be empty if the image is already stored
    images_internal::IndexEntry entry;
    std::string tag;
    std::string repo_digest;
  };
  // One pull in progress, shared by callers asking for the same reference.
  struct Flight {
    int waiting = 1;           // callers still interested, the leader included
    bool leader_gone = false;  // the leader's caller went away
    bool done = false;
    absl::StatusOr<ImageRecord> result = absl::UnknownError("pull running");
  };

  ImageStore(std::string root, ImageStoreOptions options, int lock_fd)
      : root_(std::move(root)), options_(std::move(options)), lock_fd_(lock_fd) {}

  absl::Status Load();
  // `abandoned`: true once no caller waits for this pull any more.
  absl::StatusOr<ImageRecord> PullOnce(const std::string& reference, const RegistryAuth& auth,
                                       const std::function<bool()>& abandoned);
  absl::StatusOr<Staged> PullUrl(const std::string& reference, const std::string& work,
                                 absl::Time deadline, const std::function<bool()>& abandoned);
  absl::StatusOr<Staged> PullRegistry(const std::string& reference, const RegistryAuth& auth,
                                      const std::string& work, absl::Time deadline,
                                      const std::function<bool()>& abandoned);
  // Renames the staged directory to sha256/<hex> (unless the image is
  // already there) and records the references.
  absl::StatusOr<ImageRecord> Commit(Staged& staged);
  bool PlainHttp(const std::string& domain) const;
  // Waits (until `deadline`, or until `abandoned`) for one of
  // max_concurrent_pulls slots.
  absl::Status AcquirePullSlot(absl::Time deadline, const std::function<bool()>& abandoned);
  void ReleasePullSlot();
  ImageRecord MakeRecord(const std::string& hex, const images_internal::IndexEntry& entry) const;
  absl::Status PersistLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string ImageDir(const std::string& hex) const;

  const std::string root_;
  const ImageStoreOptions options_;
  // Set by Open, read-only after.
  std::shared_ptr<const images_internal::Translations> translations_;
  const int lock_fd_;
  mutable absl::Mutex mu_;
  images_internal::IndexMap index_ ABSL_GUARDED_BY(mu_);
  // Never held together with mu_.
  absl::Mutex pulls_mu_;
  int active_pulls_ ABSL_GUARDED_BY(pulls_mu_) = 0;
  std::map<std::string, std::shared_ptr<Flight>> flights_ ABSL_GUARDED_BY(pulls_mu_);
};

}  // namespace vmmap

#endif  // VMMAP_SERVER_IMAGES_IMAGE_STORE_H_
