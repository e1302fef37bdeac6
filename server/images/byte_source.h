// Internal: sequential byte streams for the tar reader: a file, or a gzip /
// zstd stream decompressed on the fly (never to disk).
#ifndef VMMAP_SERVER_IMAGES_BYTE_SOURCE_H_
#define VMMAP_SERVER_IMAGES_BYTE_SOURCE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace vmmap::images_internal {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `n` bytes; 0 only at the end of the stream.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t n) = 0;
};

// Reads `fd` from offset 0 with pread (the fd's offset is not used).
std::unique_ptr<ByteSource> FdByteSource(int fd);

// Picks the decompressor from the first bytes of `fd`: gzip (1f 8b), zstd
// (28 b5 2f fd) or none. Decompressed bytes beyond `max_bytes` are
// ResourceExhausted (a decompression bomb); corrupt compressed data is
// InvalidArgument naming `what`.
absl::StatusOr<std::unique_ptr<ByteSource>> DecompressingSource(int fd, uint64_t max_bytes,
                                                                const std::string& what);

}  // namespace vmmap::images_internal

#endif  // VMMAP_SERVER_IMAGES_BYTE_SOURCE_H_
