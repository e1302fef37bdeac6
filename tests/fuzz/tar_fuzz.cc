// Layers and kernel bundles are image-author input: any byte string, plain
// or gzip/zstd compressed, must read as a tar archive or fail with a clear
// status, never a crash, a hang or undefined behaviour; and no entry name the
// reader hands out may be absolute or climb with "..".
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "server/images/byte_source.h"
#include "server/images/tar_reader.h"

using vmmap::images_internal::DecompressingSource;
using vmmap::images_internal::TarEntry;
using vmmap::images_internal::TarReader;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int fd = memfd_create("tar-fuzz", MFD_CLOEXEC);
  if (fd < 0) return 0;
  if (write(fd, data, size) != static_cast<ssize_t>(size)) {
    close(fd);
    return 0;
  }
  auto source = DecompressingSource(fd, 64 << 20, "fuzz layer");
  if (source.ok()) {
    TarReader tar(**source, "fuzz layer");
    TarEntry entry;
    for (int i = 0; i < 10000; ++i) {
      absl::StatusOr<bool> more = tar.Next(&entry);
      if (!more.ok()) {
        absl::StatusCode code = more.status().code();
        if (code != absl::StatusCode::kInvalidArgument &&
            code != absl::StatusCode::kResourceExhausted) {
          abort();
        }
        break;
      }
      if (!*more) break;
      if (!entry.name.empty() && entry.name[0] == '/') abort();
      if (!entry.name.empty()) {  // normalised: no "", "." or ".." parts
        for (absl::string_view part : absl::StrSplit(entry.name, '/')) {
          if (part.empty() || part == "." || part == "..") abort();
        }
      }
      if (i % 2 == 0) {
        absl::Status s = tar.ReadData([](absl::string_view) { return absl::OkStatus(); });
        if (!s.ok() && s.code() != absl::StatusCode::kInvalidArgument &&
            s.code() != absl::StatusCode::kResourceExhausted) {
          abort();
        }
        if (!s.ok()) break;
      }
    }
  }
  close(fd);
  return 0;
}
