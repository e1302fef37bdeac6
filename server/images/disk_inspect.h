// Internal: decides whether an untrusted disk file may be stored.
//
// A disk image is self-contained or it is refused: a qcow2 header can name a
// backing file or an external data file, both of which QEMU would open on the
// host (e.g. `-b /etc/shadow`), so neither is ever accepted. The format is
// never guessed by QEMU: vmmap picks it from the magic bytes and passes it to
// qemu-img with `-f`, so a raw disk whose content looks like qcow2 cannot turn
// into one later (the overlay pins the same format with `-F`).
#ifndef VMMAP_SERVER_IMAGES_DISK_INSPECT_H_
#define VMMAP_SERVER_IMAGES_DISK_INSPECT_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmmap::images_internal {

enum class DiskFormat { kQcow2, kRaw };
const char* DiskFormatName(DiskFormat format);  // "qcow2" / "raw"

struct DiskInfo {
  DiskFormat format = DiskFormat::kQcow2;
  uint64_t virtual_size = 0;
};

// From the file's first bytes: qcow2 by its magic; InvalidArgument naming the
// format for other image formats QEMU knows (vmdk, vdi, vhdx, vpc, qed, luks,
// ...); raw for everything else.
absl::StatusOr<DiskFormat> DetectDiskFormat(const unsigned char* head, size_t len,
                                            const std::string& what);

// The qcow2 header's own fields, checked before qemu-img ever opens the file:
// a backing file offset, an external data file (incompatible feature bit 2)
// or encryption are InvalidArgument naming the field.
absl::Status CheckQcow2Header(const unsigned char* head, size_t len, const std::string& what);

// Parses `qemu-img info --output=json -f <expected>` output (untrusted: the
// fields come from the image). InvalidArgument naming the field for a
// backing-filename, a format-specific data-file, a format other than
// `expected`, or a qcow2 marked corrupt; DataLoss if the JSON does not parse.
absl::StatusOr<DiskInfo> ParseQemuImgInfo(absl::string_view json, DiskFormat expected,
                                          const std::string& what);

// Detects the format of the file at `path` (which only vmmap writes), checks
// a qcow2 header, then runs `qemu-img info --output=json -U -f <format>`
// (no shell, killed after `timeout`, output capped) and parses it. `what`
// names the image in errors.
absl::StatusOr<DiskInfo> InspectDisk(const std::string& path, const std::string& what,
                                     std::chrono::milliseconds timeout);

}  // namespace vmmap::images_internal

#endif  // VMMAP_SERVER_IMAGES_DISK_INSPECT_H_
