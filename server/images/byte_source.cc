#include "server/images/byte_source.h"

#include <zlib.h>
#include <zstd.h>

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
      return absl::ResourceExhaustedError(absl::StrCat(
          what_, ": unpacks to more than the limit of ", max_,
          " bytes (vmmap serve --max-image-size)"));
    }
    return absl::OkStatus();
  }

 private:
  uint64_t max_;
  uint64_t used_ = 0;
  const std::string what_;
};

class GzipSource : public ByteSource {
 public:
  GzipSource(int fd, uint64_t max, std::string what)
      : in_(fd), budget_(max, what), what_(std::move(what)), buf_(kChunk) {}
  ~GzipSource() override {
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
  absl::StatusOr<size_t> Read(char* out, size_t n) override {
    while (!done_) {
      if (z_.avail_in == 0 && !eof_) {
        absl::StatusOr<size_t> got = in_.Read(buf_.data(), buf_.size());
        if (!got.ok()) return got.status();
        if (*got == 0) eof_ = true;
        z_.next_in = reinterpret_cast<Bytef*>(buf_.data());
        z_.avail_in = static_cast<uInt>(*got);
      }
      z_.next_out = reinterpret_cast<Bytef*>(out);
      z_.avail_out = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
      int rc = inflate(&z_, Z_NO_FLUSH);
      size_t produced = static_cast<size_t>(
          reinterpret_cast<char*>(z_.next_out) - out);
      if (rc == Z_STREAM_END) {
        // Concatenated gzip members are one stream (as gzip -d reads them).
        if (z_.avail_in > 0 || !eof_) {
          inflateReset(&z_);
        } else {
          done_ = true;
        }
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return absl::InvalidArgumentError(absl::StrCat(
            what_, ": corrupt gzip data (", z_.msg ? z_.msg : "zlib error", ")"));
      } else if (rc == Z_BUF_ERROR && eof_ && z_.avail_in == 0 &&
                 produced == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(what_, ": truncated gzip data"));
      }
      if (produced > 0) {
        absl::Status s = budget_.Add(produced);
        if (!s.ok()) return s;
        return produced;
      }
      if (done_) break;
    }
    return 0;
  }

 private:
  FdSource in_;
  Budget budget_;
  const std::string what_;
  std::vector<char> buf_;
  z_stream z_{};
  bool ready_ = false;
  bool eof_ = false;
  bool done_ = false;
};

class ZstdSource : public ByteSource {
 public:
  ZstdSource(int fd, uint64_t max, std::string what)
      : in_(fd), budget_(max, what), what_(std::move(what)), buf_(kChunk),
        ctx_(ZSTD_createDCtx()) {}
  ~ZstdSource() override { ZSTD_freeDCtx(ctx_); }
  absl::StatusOr<size_t> Read(char* out, size_t n) override {
    if (ctx_ == nullptr) return absl::InternalError("ZSTD_createDCtx failed");
    while (true) {
      if (input_.pos == input_.size && !eof_) {
        absl::StatusOr<size_t> got = in_.Read(buf_.data(), buf_.size());
        if (!got.ok()) return got.status();
        if (*got == 0) eof_ = true;
        input_ = {buf_.data(), *got, 0};
      }
      ZSTD_outBuffer output = {out, n, 0};
      size_t rc = ZSTD_decompressStream(ctx_, &output, &input_);
      if (ZSTD_isError(rc)) {
        return absl::InvalidArgumentError(absl::StrCat(
            what_, ": corrupt zstd data (", ZSTD_getErrorName(rc), ")"));
      }
      last_rc_ = rc;
      if (output.pos > 0) {
        absl::Status s = budget_.Add(output.pos);
        if (!s.ok()) return s;
        return output.pos;
      }
      if (eof_ && input_.pos == input_.size) {
        if (last_rc_ != 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(what_, ": truncated zstd data"));
        }
        return 0;
      }
    }
  }

 private:
  FdSource in_;
  Budget budget_;
  const std::string what_;
  std::vector<char> buf_;
  ZSTD_DCtx* ctx_;
  ZSTD_inBuffer input_ = {nullptr, 0, 0};
  size_t last_rc_ = 0;
  bool eof_ = false;
};

class CountingSource : public ByteSource {
 public:
  CountingSource(int fd, uint64_t max, const std::string& what)
      : in_(fd), budget_(max, what) {}
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

std::unique_ptr<ByteSource> FdByteSource(int fd) {
  return std::make_unique<FdSource>(fd);
}

absl::StatusOr<std::unique_ptr<ByteSource>> DecompressingSource(
    int fd, uint64_t max_bytes, const std::string& what) {
  unsigned char magic[4] = {0};
  absl::StatusOr<size_t> n = PreadFull(fd, magic, sizeof magic, 0, what);
  if (!n.ok()) return n.status();
  if (*n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    auto gz = std::make_unique<GzipSource>(fd, max_bytes, what);
    absl::Status s = gz->Init();
    if (!s.ok()) return s;
    return std::unique_ptr<ByteSource>(std::move(gz));
  }
  if (*n >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f &&
      magic[3] == 0xfd) {
    return std::unique_ptr<ByteSource>(
        std::make_unique<ZstdSource>(fd, max_bytes, what));
  }
  return std::unique_ptr<ByteSource>(
      std::make_unique<CountingSource>(fd, max_bytes, what));
}

}  // namespace vmmap::images_internal
