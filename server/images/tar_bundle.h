// Internal: recognises and extracts kernel bundles (tar archives).
#ifndef VMMAP_SERVER_IMAGES_TAR_BUNDLE_H_
#define VMMAP_SERVER_IMAGES_TAR_BUNDLE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmmap::images_internal {

// True if `block` (the file's first bytes) carries the ustar magic at offset
// 257: "ustar\0" (POSIX) or "ustar " (GNU).
bool LooksLikeTar(const unsigned char* block, size_t len);

// A kernel command line from an image: one line (tabs allowed), trailing
// whitespace removed, at most 2048 bytes (x86's limit); InvalidArgument
// "<what>: ..." otherwise.
absl::StatusOr<std::string> CheckCmdline(absl::string_view text, const std::string& what);

struct BundleContents {
  bool has_initrd = false;
  std::string cmdline;  // trailing whitespace removed
};

// Reads the tar archive in `tar_fd` (from offset 0) and writes `vmlinuz`,
// `initrd.img` and `cmdline` into the directory `out_dir_fd` under those fixed
// names (O_EXCL, 0644, fsync'ed). The archive is untrusted: anything but
// regular files (and the "./" entry) is rejected, as are absolute names,
// ".." components, duplicates, bad checksums, truncation, a `cmdline` over
// 4 KiB or with more than one line, and a missing `vmlinuz`; all as
// InvalidArgument naming `reference`.
absl::StatusOr<BundleContents> ExtractBundle(int tar_fd, int out_dir_fd,
                                             const std::string& reference);

}  // namespace vmmap::images_internal

#endif  // VMMAP_SERVER_IMAGES_TAR_BUNDLE_H_
