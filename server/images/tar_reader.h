// Internal: a streaming reader of untrusted tar archives (POSIX ustar, pax
// and GNU long names), shared by kernel bundles and image layers.
//
// Entry names are checked and normalised here, once: absolute names, ".."
// components and NUL bytes are InvalidArgument; "./a//b/" becomes "a/b" and
// the archive root "./" becomes "". Names are never used as host paths by
// any caller; this check is defence in depth and gives clear errors.
#ifndef VMMAP_SERVER_IMAGES_TAR_READER_H_
#define VMMAP_SERVER_IMAGES_TAR_READER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/images/byte_source.h"

namespace vmmap::images_internal {

struct TarEntry {
  std::string name;  // normalised, relative
  char type = '0';   // '0' file, '5' dir, '1' hardlink, '2' symlink, ...
  uint64_t size = 0;
  std::string link;  // link target (hard or symbolic), as written
  bool IsRegular() const { return type == '0' || type == '\0' || type == '7'; }
};

class TarReader {
 public:
  // `what` prefixes every error, e.g. "kernel bundle file:///x rejected".
  TarReader(ByteSource& source, std::string what) : source_(source), what_(std::move(what)) {}

  // Advances to the next entry (skipping the rest of the current one's
  // data). Returns false at the end of the archive (two zero blocks, or EOF
  // at a header boundary).
  absl::StatusOr<bool> Next(TarEntry* entry);

  // Passes the current entry's data to `sink` in pieces.
  absl::Status ReadData(const std::function<absl::Status(absl::string_view)>& sink);

  // The current entry's data as a string; InvalidArgument if over `max`.
  absl::StatusOr<std::string> ReadSmallData(size_t max, absl::string_view name);

  // InvalidArgument "<what>: <why>".
  absl::Status Bad(absl::string_view why) const;

 private:
  absl::Status ReadExact(char* buf, size_t n);
  absl::Status SkipRest();
  absl::Status ParsePax(const std::string& payload);
  absl::StatusOr<std::string> Normalize(const std::string& name) const;

  ByteSource& source_;
  const std::string what_;
  uint64_t data_left_ = 0;  // of the current entry
  uint64_t padding_ = 0;    // after the current entry's data
  // Pending extended header values for the next entry.
  bool has_pax_path_ = false, has_pax_size_ = false, has_pax_link_ = false;
  std::string pax_path_, pax_link_;
  uint64_t pax_size_ = 0;
};

}  // namespace vmmap::images_internal

#endif  // VMMAP_SERVER_IMAGES_TAR_READER_H_
