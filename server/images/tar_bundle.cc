#include "server/base/errno_status.h"
#include "server/images/tar_bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/images/byte_source.h"
#include "server/images/fs_util.h"
#include "server/images/tar_reader.h"

namespace vmmap::images_internal {
namespace {

constexpr size_t kMaxCmdline = 4096;  // the file; the line is checked below
// The x86 kernel command line limit (COMMAND_LINE_SIZE): the image's own
// part alone may not exceed it (the runtime checks it with the pod's part).
constexpr size_t kMaxCmdlineLine = 2048;

// Writes the current entry's data to dir/name (O_EXCL, 0644, fsync'ed).
absl::Status WriteEntry(TarReader& tar, int dir_fd, const char* name) {
  UniqueFd out(openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!out.valid()) return ErrnoToStatus(errno, absl::StrCat("create ", name));
  absl::Status s = tar.ReadData([&](absl::string_view piece) {
    return WriteAll(out.get(), piece.data(), piece.size(), name);
  });
  if (!s.ok()) return s;
  if (fsync(out.get()) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("fsync ", name));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> CheckCmdline(absl::string_view text, const std::string& what) {
  absl::string_view trimmed = absl::StripTrailingAsciiWhitespace(text);
  for (char ch : trimmed) {
    unsigned char u = static_cast<unsigned char>(ch);
    if (u < 0x20 && ch != '\t') {
      return absl::InvalidArgumentError(absl::StrCat(what, ": cmdline must be one line of text"));
    }
  }
  if (trimmed.size() > kMaxCmdlineLine) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": cmdline is ", trimmed.size(),
                     " bytes, more than the x86 kernel command line limit of 2048"));
  }
  return std::string(trimmed);
}

bool LooksLikeTar(const unsigned char* block, size_t len) {
  return len >= 512 && (std::memcmp(block + 257, "ustar\0", 6) == 0 ||
                        std::memcmp(block + 257, "ustar ", 6) == 0);
}

absl::StatusOr<BundleContents> ExtractBundle(int tar_fd, int out_dir_fd,
                                             const std::string& reference) {
  std::unique_ptr<ByteSource> source = FdByteSource(tar_fd);
  const std::string what = absl::StrCat("kernel bundle ", reference, " rejected");
  TarReader tar(*source, what);
  BundleContents contents;
  bool have_kernel = false, have_cmdline = false;
  TarEntry entry;
  while (true) {
    absl::StatusOr<bool> more = tar.Next(&entry);
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (entry.type == '5') {
      if (!entry.name.empty()) {
        return tar.Bad(absl::StrCat("directory entry \"", absl::CHexEscape(entry.name),
                                    "\" (only regular files are accepted)"));
      }
      continue;
    }
    if (!entry.IsRegular()) {
      return tar.Bad(absl::StrCat("entry \"", absl::CHexEscape(entry.name),
                                  "\" is not a regular file (type '",
                                  absl::CHexEscape(std::string(1, entry.type)), "')"));
    }
    if (entry.name.empty()) return tar.Bad("regular file with an empty name");
    if (entry.name == "vmlinuz" || entry.name == "initrd.img") {
      bool& seen = entry.name == "vmlinuz" ? have_kernel : contents.has_initrd;
      if (seen) return tar.Bad(absl::StrCat("duplicate ", entry.name));
      seen = true;
      absl::Status s = WriteEntry(tar, out_dir_fd, entry.name.c_str());
      if (!s.ok()) return s;
    } else if (entry.name == "cmdline") {
      if (have_cmdline) return tar.Bad("duplicate cmdline");
      have_cmdline = true;
      absl::StatusOr<std::string> text = tar.ReadSmallData(kMaxCmdline, "cmdline");
      if (!text.ok()) return text.status();
      absl::StatusOr<std::string> line = CheckCmdline(*text, what);
      if (!line.ok()) return line.status();
      contents.cmdline = *line;
      UniqueFd out(openat(out_dir_fd, "cmdline",
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
      if (!out.valid()) return ErrnoToStatus(errno, "create cmdline");
      absl::Status ws = WriteAll(out.get(), text->data(), text->size(), "cmdline");
      if (!ws.ok()) return ws;
      if (fsync(out.get()) != 0) return ErrnoToStatus(errno, "fsync cmdline");
    }
    // Other regular files are skipped by the next Next().
  }
  if (!have_kernel) {
    return tar.Bad(
        "no vmlinuz in the archive (a kernel bundle is a tar holding "
        "vmlinuz, optionally initrd.img and cmdline)");
  }
  return contents;
}

}  // namespace vmmap::images_internal
