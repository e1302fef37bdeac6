// The VM image store: content-addressed by sha256 under <state-dir>/images.
//
// An image is one pulled file, identified by the sha256 of its bytes:
//  * a qcow2 disk (magic "QFI\xfb"): each container boots from its own qcow2
//    overlay on top of it (CreateOverlay);
//  * a kernel bundle: a POSIX/GNU tar archive holding `vmlinuz`, optionally
//    `initrd.img` and optionally `cmdline` (one line), booted by direct kernel
//    boot. Only regular files are accepted in the archive (plus the "./"
//    directory entry); absolute names, ".." components, links, devices and
//    other directories make the whole pull fail with InvalidArgument. Other
//    regular files are ignored. Entry names are never used as paths: the three
//    known files are written under fixed names inside the image directory.
//
// References: file:///abs/path, http://host[:port]/path, https://...; an image
// is also addressable by its id "sha256:<64 hex>", by an id prefix of at least
// 12 hex digits (with or without "sha256:"), or by any reference it was
// pulled under (its tags). A tag names at most one image: pulling a reference
// again that now serves different bytes moves the tag to the new image (the
// old image stays, addressable by its id).
//
// Layout under the root:
//   index                          tags, kinds, sizes (text, see .cc); written
//                                  to .index.tmp.XXXXXX, fsync'ed, renamed
//   lock                           flock'ed while an ImageStore is open
//   tmp/                           downloads and staging; emptied by Open
//   sha256/<hex>/image             the pulled file (qcow2 or tar), 0644
//   sha256/<hex>/vmlinuz, initrd.img, cmdline   (bundles, extracted)
// A pull is downloaded and verified in tmp/, staged into a complete image
// directory and then renamed to sha256/<hex>, so a crash never leaves a half
// image under its id; directories under sha256/ that the index does not know
// (a crash between the rename and the index write) are deleted by Open.
//
// Thread-safety: every method may be called concurrently. Pull and
// CreateOverlay block (network, disk, a child process) WITHOUT holding the
// store's lock, so concurrent pulls proceed in parallel and Find/List stay
// fast while a pull runs; the lock is held only for index updates, which
// include an fsync of the index file.
#ifndef VMMAP_SERVER_IMAGES_IMAGE_STORE_H_
#define VMMAP_SERVER_IMAGES_IMAGE_STORE_H_

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

namespace vmmap {

enum class ImageKind { kQcow2Disk, kKernelBundle };

// "disk" / "bundle".
const char* ImageKindName(ImageKind kind);

struct ImageRecord {
  std::string id;                 // "sha256:<hex>"
  std::vector<std::string> tags;  // the references it was pulled under
  ImageKind kind = ImageKind::kQcow2Disk;
  uint64_t size_bytes = 0;        // size of the pulled file
  // Absolute paths inside the store.
  std::string disk_path;          // qcow2 images (empty for bundles)
  std::string kernel_path;        // bundles
  std::string initrd_path;        // bundles (empty if the bundle has none)
  std::string cmdline;            // bundles: contents of `cmdline`, trailing
                                  // whitespace removed (may be empty)
};

struct FsUsage {
  std::string mountpoint;    // the filesystem holding the store
  uint64_t used_bytes = 0;   // bytes the store's files occupy (st_blocks*512)
  uint64_t inodes_used = 0;  // files and directories in the store (incl. root)
};

class ImageStore {
 public:
  // Returns the user of image `id` ("sha256:<hex>"), e.g. a container id, or
  // nullopt if nothing uses it.
  using InUseFn =
      std::function<std::optional<std::string>(const std::string& id)>;

  // Opens (creating if needed) the store under `root` (an absolute path, e.g.
  // <state-dir>/images) and loads its index. Leftover temp files from a crash
  // are removed. FailedPrecondition if another ImageStore (in this or another
  // process) holds the store open; DataLoss if the index is corrupt.
  static absl::StatusOr<std::unique_ptr<ImageStore>> Open(std::string root);

  ~ImageStore();
  ImageStore(const ImageStore&) = delete;
  ImageStore& operator=(const ImageStore&) = delete;

  // Downloads or copies `reference`, verifies what was written (the file is
  // fsync'ed and its sha256 recomputed from the stored bytes), detects the
  // kind, and records `reference` as a tag. Idempotent: pulling the same bytes
  // again only adds the tag. Logs progress to stderr for files over 64 MiB.
  // Blocks for the whole transfer (HTTP: 30 s connect timeout, aborts if less
  // than 1 byte/s arrives for 60 s; no overall limit; at most 5 redirects,
  // http/https only).
  // Errors: InvalidArgument for an unsupported scheme, a relative file:// path
  // or unrecognised/hostile content (names the reference); NotFound for a
  // missing file or HTTP 404/410; PermissionDenied for an unreadable file or
  // HTTP 401/403; Unavailable for network failures and HTTP 5xx/408/429;
  // ResourceExhausted if the disk is full; DataLoss if the re-read bytes do
  // not match.
  absl::StatusOr<ImageRecord> Pull(const std::string& reference);

  // Finds by tag, by id, or by an id prefix of at least 12 hex digits
  // ("sha256:" optional). NotFound if nothing matches, InvalidArgument if a
  // prefix is ambiguous.
  absl::StatusOr<ImageRecord> Find(const std::string& reference) const;

  // All images, sorted by id.
  std::vector<ImageRecord> List() const;

  // Removes the image (with all its tags) that `reference` resolves to.
  // `in_use` is called with the image id WITHOUT the store's lock held (it may
  // call back into the store); FailedPrecondition naming the user if it
  // returns one. NotFound for an unknown reference.
  absl::Status Remove(const std::string& reference, const InUseFn& in_use);

  // Creates a qcow2 overlay at `overlay_path` (absolute; must not exist yet:
  // AlreadyExists otherwise) backed by the image's disk, by running
  // `qemu-img create -f qcow2 -F qcow2 -b <disk> <overlay>` (no shell).
  // The image is looked up again by `image.id`, so the backing path always
  // comes from the store. FailedPrecondition for bundles, NotFound if the
  // image was removed, Internal with qemu-img's stderr if it fails.
  // Blocks until qemu-img exits.
  absl::Status CreateOverlay(const ImageRecord& image,
                             const std::string& overlay_path) const;

  // Walks the store (blocking, without the lock; concurrent removals are
  // tolerated) and /proc/self/mountinfo.
  absl::StatusOr<FsUsage> Usage() const;

  const std::string& root() const { return root_; }

 private:
  struct Entry {
    ImageKind kind = ImageKind::kQcow2Disk;
    uint64_t size_bytes = 0;
    std::vector<std::string> tags;
    bool has_initrd = false;
    std::string cmdline;
  };
  using Index = std::map<std::string, Entry>;  // keyed by hex digest

  ImageStore(std::string root, int lock_fd)
      : root_(std::move(root)), lock_fd_(lock_fd) {}

  absl::Status Load();
  // Resolves a reference to a hex digest.
  absl::StatusOr<std::string> ResolveLocked(const std::string& reference) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  ImageRecord MakeRecord(const std::string& hex, const Entry& entry) const;
  // Points `tag` at `hex` (removing it from any other image).
  static void AddTag(Index& index, const std::string& hex,
                     const std::string& tag);
  absl::Status PersistLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string ImageDir(const std::string& hex) const;

  const std::string root_;
  const int lock_fd_;
  mutable absl::Mutex mu_;
  Index index_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmmap

#endif  // VMMAP_SERVER_IMAGES_IMAGE_STORE_H_
