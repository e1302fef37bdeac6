#include "server/images/byte_source.h"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/images/fs_util.h"

namespace vmmap::images_internal {
namespace {

constexpr size_t kChunk = 1 << 17;

class FdSource : public ByteSource {
 public:
  explicit FdSource(int fd) : fd_(fd) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    absl::StatusOr<size_t> got = PreadFull(fd_, buf, n, offset_, "image data");
    if (got.ok()) offset_ += static_cast<off_t>(*got);
    return got;
  }

 private:
  int fd_;
  off_t offset_ = 0;
};

// Counts decompressed bytes against the limit.
class Budget {
 public:
  Budget(uint64_t max, const std::string& what) : max_(max), what_(what) {}
  absl::Status Add(size_t n) {
    used_ += n;
    if (used_ > max_) {
      return absl::ResourceExhaustedError(absl::StrCat(what_,
                                                       ": unpacks to more than the limit of ", max_,
                                                       " bytes (vmmap serve --max-image-size)"));
    }
    return absl::OkStatus();
  }

 private:
  uint64_t max_;
  uint64_t used_ = 0;
  const std::string what_;
};

// One call of a streaming decompressor.
struct DecodeStep {
  size_t consumed = 0;
  size_t produced = 0;
  // A whole gzip member / zstd frame ended here and nothing is held back:
  // the input may end cleanly at this point.
  bool at_boundary = false;
};

class GzipCodec {
 public:
  explicit GzipCodec(std::string what) : what_(std::move(what)) {}
  ~GzipCodec() {
    if (ready_) inflateEnd(&z_);
  }
  absl::Status Init() {
    // 16 + MAX_WBITS: gzip framing only.
    if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) {
      return absl::InternalError("inflateInit2 failed");
    }
    ready_ = true;
    return absl::OkStatus();
  }
  absl::StatusOr<DecodeStep> Decode(const char* in, size_t in_size, char* out, size_t out_size) {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in));
    z_.avail_in = static_cast<uInt>(std::min<size_t>(in_size, 1u << 30));
    z_.next_out = reinterpret_cast<Bytef*>(out);
    z_.avail_out = static_cast<uInt>(std::min<size_t>(out_size, 1u << 30));
    const uInt avail_in = z_.avail_in;
    const int rc = inflate(&z_, Z_NO_FLUSH);
    DecodeStep step;
    step.consumed = avail_in - z_.avail_in;
    step.produced = static_cast<size_t>(reinterpret_cast<char*>(z_.next_out) - out);
    if (rc == Z_STREAM_END) {
      // Concatenated gzip members are one stream (as gzip -d reads them).
      inflateReset(&z_);
      step.at_boundary = true;
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return absl::InvalidArgumentError(
          absl::StrCat(what_, ": corrupt gzip data (", z_.msg ? z_.msg : "zlib error", ")"));
    }
    return step;
  }
  static constexpr const char* kName = "gzip";

 private:
  const std::string what_;
  z_stream z_{};
  bool ready_ = false;
};

class ZstdCodec {
 public:
  explicit ZstdCodec(std::string what) : what_(std::move(what)), ctx_(ZSTD_createDCtx()) {}
  ~ZstdCodec() { ZSTD_freeDCtx(ctx_); }
  absl::Status Init() {
    if (ctx_ == nullptr) return absl::InternalError("ZSTD_createDCtx failed");
    return absl::OkStatus();
  }
  absl::StatusOr<DecodeStep> Decode(const char* in, size_t in_size, char* out, size_t out_size) {
    ZSTD_inBuffer input = {in, in_size, 0};
    ZSTD_outBuffer output = {out, out_size, 0};
    const size_t rc = ZSTD_decompressStream(ctx_, &output, &input);
    if (ZSTD_isError(rc)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what_, ": corrupt zstd data (", ZSTD_getErrorName(rc), ")"));
    }
    // rc == 0: a frame is complete and fully flushed (frames concatenate).
    return DecodeStep{input.pos, output.pos, rc == 0};
  }
  static constexpr const char* kName = "zstd";

 private:
  const std::string what_;
  ZSTD_DCtx* ctx_;
};

// The one read loop of every compressed stream: refill the input, decode,
// count what came out against the budget, and tell a clean end (the input
// ends on a member/frame boundary) from a truncated one.
template <typename Codec>
class DecompressedSource : public ByteSource {
 public:
  DecompressedSource(int fd, uint64_t max, const std::string& what)
      : in_(fd), budget_(max, what), codec_(what), what_(what), buf_(kChunk) {}
  absl::Status Init() { return codec_.Init(); }
  absl::StatusOr<size_t> Read(char* out, size_t n) override {
    while (true) {
      if (pos_ == size_ && !eof_) {
        absl::StatusOr<size_t> got = in_.Read(buf_.data(), buf_.size());
        if (!got.ok()) return got.status();
        if (*got == 0) eof_ = true;
        pos_ = 0;
        size_ = *got;
      }
      const bool input_done = eof_ && pos_ == size_;
      if (input_done && at_boundary_) return 0;
      absl::StatusOr<DecodeStep> step = codec_.Decode(buf_.data() + pos_, size_ - pos_, out, n);
      if (!step.ok()) return step.status();
      pos_ += step->consumed;
      if (step->consumed > 0 || step->produced > 0 || step->at_boundary) {
        at_boundary_ = step->at_boundary;
      }
      if (step->produced > 0) {
        if (absl::Status s = budget_.Add(step->produced); !s.ok()) return s;
        return step->produced;
      }
      if (input_done && step->consumed == 0 && !at_boundary_) {
        return absl::InvalidArgumentError(
            absl::StrCat(what_, ": truncated ", Codec::kName, " data"));
      }
    }
  }

 private:
  FdSource in_;
  Budget budget_;
  Codec codec_;
  const std::string what_;
  std::vector<char> buf_;
  size_t pos_ = 0;   // next unread byte of buf_
  size_t size_ = 0;  // bytes of buf_ filled
  bool eof_ = false;
  bool at_boundary_ = false;
};

template <typename Codec>
absl::StatusOr<std::unique_ptr<ByteSource>> MakeDecompressed(int fd, uint64_t max,
                                                             const std::string& what) {
  auto source = std::make_unique<DecompressedSource<Codec>>(fd, max, what);
  if (absl::Status s = source->Init(); !s.ok()) return s;
  return std::unique_ptr<ByteSource>(std::move(source));
}

class CountingSource : public ByteSource {
 public:
  CountingSource(int fd, uint64_t max, const std::string& what) : in_(fd), budget_(max, what) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    absl::StatusOr<size_t> got = in_.Read(buf, n);
    if (got.ok()) {
      absl::Status s = budget_.Add(*got);
      if (!s.ok()) return s;
    }
    return got;
  }

 private:
  FdSource in_;
  Budget budget_;
};

}  // namespace

std::unique_ptr<ByteSource> FdByteSource(int fd) { return std::make_unique<FdSource>(fd); }

absl::StatusOr<std::unique_ptr<ByteSource>> DecompressingSource(int fd, uint64_t max_bytes,
                                                                const std::string& what) {
  unsigned char magic[4] = {0};
  absl::StatusOr<size_t> n = PreadFull(fd, magic, sizeof magic, 0, what);
  if (!n.ok()) return n.status();
  if (*n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    return MakeDecompressed<GzipCodec>(fd, max_bytes, what);
  }
  if (*n >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd) {
    return MakeDecompressed<ZstdCodec>(fd, max_bytes, what);
  }
  return std::unique_ptr<ByteSource>(std::make_unique<CountingSource>(fd, max_bytes, what));
}

}  // namespace vmmap::images_internal
