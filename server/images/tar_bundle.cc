#include "server/images/tar_bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "server/images/fs_util.h"

namespace vmmap::images_internal {
namespace {

constexpr size_t kBlock = 512;
constexpr uint64_t kMaxMetaSize = 1 << 20;     // pax / GNU long-name payloads
constexpr uint64_t kMaxCmdline = 4096;

bool IsUstar(const unsigned char* h) {
  return std::memcmp(h + 257, "ustar\0", 6) == 0;
}
bool IsGnu(const unsigned char* h) {
  return std::memcmp(h + 257, "ustar ", 6) == 0;
}

// NUL-terminated (or full-width) string field.
std::string Field(const unsigned char* h, size_t off, size_t len) {
  const char* p = reinterpret_cast<const char*>(h + off);
  return std::string(p, strnlen(p, len));
}

// Octal (optionally space/NUL padded) or GNU base-256 numeric field.
std::optional<uint64_t> Number(const unsigned char* h, size_t off, size_t len) {
  const unsigned char* p = h + off;
  if (p[0] & 0x80) {
    if (p[0] != 0x80) return std::nullopt;  // negative or too large
    uint64_t v = 0;
    for (size_t i = 1; i < len; ++i) {
      if (v >> 56) return std::nullopt;
      v = (v << 8) | p[i];
    }
    return v;
  }
  size_t i = 0;
  while (i < len && (p[i] == ' ' || p[i] == '\0')) ++i;
  uint64_t v = 0;
  bool any = false;
  for (; i < len && p[i] >= '0' && p[i] <= '7'; ++i) {
    if (v >> 60) return std::nullopt;
    v = v * 8 + (p[i] - '0');
    any = true;
  }
  for (; i < len; ++i) {
    if (p[i] != ' ' && p[i] != '\0') return std::nullopt;
  }
  if (!any) return 0;
  return v;
}

bool ChecksumOk(const unsigned char* h) {
  std::optional<uint64_t> want = Number(h, 148, 8);
  if (!want) return false;
  uint64_t usum = 0;
  int64_t ssum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    unsigned char b = (i >= 148 && i < 156) ? ' ' : h[i];
    usum += b;
    ssum += static_cast<signed char>(b);
  }
  return *want == usum || static_cast<int64_t>(*want) == ssum;
}

bool AllZero(const unsigned char* h) {
  for (size_t i = 0; i < kBlock; ++i) {
    if (h[i] != 0) return false;
  }
  return true;
}

class Extractor {
 public:
  Extractor(int tar_fd, int out_dir_fd, const std::string& reference)
      : fd_(tar_fd), out_(out_dir_fd), reference_(reference) {}

  absl::StatusOr<BundleContents> Run() {
    BundleContents contents;
    bool have_kernel = false, have_cmdline = false;
    std::optional<std::string> long_name;  // from pax "path" or GNU 'L'
    bool has_pax_size = false;
    uint64_t pax_size = 0;
    unsigned char h[kBlock];
    while (true) {
      absl::StatusOr<size_t> n = PreadFull(fd_, h, kBlock, offset_, "bundle");
      if (!n.ok()) return n.status();
      if (*n == 0) break;  // lenient: EOF without the end-of-archive blocks
      if (*n != kBlock) return Bad("truncated header");
      offset_ += kBlock;
      if (AllZero(h)) break;
      if (!IsUstar(h) && !IsGnu(h)) return Bad("entry without ustar magic");
      if (!ChecksumOk(h)) return Bad("header checksum mismatch");
      std::optional<uint64_t> size = Number(h, 124, 12);
      if (!size) return Bad("bad size field");
      char type = static_cast<char>(h[156]);
      std::string name;
      if (long_name) {
        name = *long_name;
      } else {
        name = Field(h, 0, 100);
        std::string prefix = IsUstar(h) ? Field(h, 345, 155) : "";
        if (!prefix.empty()) name = absl::StrCat(prefix, "/", name);
      }
      if (has_pax_size && type != 'x' && type != 'g') size = pax_size;

      if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
        if (*size > kMaxMetaSize) return Bad("oversized metadata entry");
        std::string payload;
        absl::Status s = ReadData(*size, &payload, -1);
        if (!s.ok()) return s;
        if (type == 'x') {
          absl::Status ps = ParsePax(payload, &long_name, &has_pax_size, &pax_size);
          if (!ps.ok()) return ps;
        } else if (type == 'L') {
          long_name = std::string(payload.c_str());  // up to the first NUL
        }
        // 'g' (global pax) and 'K' (GNU long link name) are ignored; the link
        // entry they belong to is rejected below.
        continue;
      }
      long_name.reset();
      has_pax_size = false;

      absl::StatusOr<std::string> norm = Normalize(name);
      if (!norm.ok()) return norm.status();
      if (type == '5') {
        if (!norm->empty()) {
          return Bad(absl::StrCat("directory entry \"",
                                  absl::CHexEscape(name),
                                  "\" (only regular files are accepted)"));
        }
        if (*size != 0) return Bad("directory entry with data");
        continue;
      }
      if (type != '0' && type != '\0' && type != '7') {
        return Bad(absl::StrCat("entry \"", absl::CHexEscape(name),
                                "\" is not a regular file (type '",
                                absl::CHexEscape(std::string(1, type)), "')"));
      }
      if (norm->empty()) return Bad("regular file with an empty name");
      if (*norm == "vmlinuz" || *norm == "initrd.img") {
        bool& seen = *norm == "vmlinuz" ? have_kernel : contents.has_initrd;
        if (seen) return Bad(absl::StrCat("duplicate ", *norm));
        seen = true;
        UniqueFd out(openat(out_, norm->c_str(),
                            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                                O_CLOEXEC,
                            0644));
        if (!out.valid()) {
          return ErrnoStatus(errno, absl::StrCat("create ", *norm));
        }
        absl::Status s = ReadData(*size, nullptr, out.get());
        if (!s.ok()) return s;
        if (fsync(out.get()) != 0) {
          return ErrnoStatus(errno, absl::StrCat("fsync ", *norm));
        }
      } else if (*norm == "cmdline") {
        if (have_cmdline) return Bad("duplicate cmdline");
        have_cmdline = true;
        if (*size > kMaxCmdline) return Bad("cmdline is larger than 4 KiB");
        std::string text;
        absl::Status s = ReadData(*size, &text, -1);
        if (!s.ok()) return s;
        absl::string_view trimmed = absl::StripTrailingAsciiWhitespace(text);
        for (char ch : trimmed) {
          unsigned char u = static_cast<unsigned char>(ch);
          if (u < 0x20 && ch != '\t') {
            return Bad("cmdline must be one line of text");
          }
        }
        contents.cmdline = std::string(trimmed);
        UniqueFd out(openat(out_, "cmdline",
                            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                                O_CLOEXEC,
                            0644));
        if (!out.valid()) return ErrnoStatus(errno, "create cmdline");
        absl::Status ws = WriteAll(out.get(), text.data(), text.size(),
                                   "cmdline");
        if (!ws.ok()) return ws;
        if (fsync(out.get()) != 0) return ErrnoStatus(errno, "fsync cmdline");
      } else {
        absl::Status s = ReadData(*size, nullptr, -1);  // skip
        if (!s.ok()) return s;
      }
    }
    if (!have_kernel) {
      return Bad("no vmlinuz in the archive (a kernel bundle is a tar holding "
                 "vmlinuz, optionally initrd.img and cmdline)");
    }
    return contents;
  }

 private:
  absl::Status Bad(absl::string_view why) const {
    return absl::InvalidArgumentError(absl::StrCat(
        "kernel bundle ", reference_, " rejected: ", why));
  }

  // Relative path with "." and empty components dropped; rejects absolute
  // names and "..".
  absl::StatusOr<std::string> Normalize(const std::string& name) const {
    if (name.find('\0') != std::string::npos) return Bad("NUL in entry name");
    if (!name.empty() && name[0] == '/') {
      return Bad(absl::StrCat("absolute entry name \"", absl::CHexEscape(name),
                              "\""));
    }
    std::vector<absl::string_view> parts;
    for (absl::string_view part : absl::StrSplit(name, '/')) {
      if (part.empty() || part == ".") continue;
      if (part == "..") {
        return Bad(absl::StrCat("entry name \"", absl::CHexEscape(name),
                                "\" contains \"..\""));
      }
      parts.push_back(part);
    }
    return absl::StrJoin(parts, "/");
  }

  absl::Status ParsePax(const std::string& payload,
                        std::optional<std::string>* path, bool* has_size,
                        uint64_t* size) const {
    size_t pos = 0;
    while (pos < payload.size()) {
      size_t sp = payload.find(' ', pos);
      if (sp == std::string::npos) return Bad("malformed pax header");
      uint64_t len = 0;
      if (!absl::SimpleAtoi(absl::string_view(payload).substr(pos, sp - pos),
                            &len) ||
          len < sp - pos + 3 || len > payload.size() - pos ||
          payload[pos + len - 1] != '\n') {
        return Bad("malformed pax header");
      }
      absl::string_view rec(payload.data() + sp + 1, pos + len - 1 - (sp + 1));
      size_t eq = rec.find('=');
      if (eq == absl::string_view::npos) return Bad("malformed pax header");
      absl::string_view key = rec.substr(0, eq), value = rec.substr(eq + 1);
      if (key == "path") {
        *path = std::string(value);
      } else if (key == "size") {
        uint64_t v;
        if (!absl::SimpleAtoi(value, &v)) return Bad("bad pax size");
        *has_size = true;
        *size = v;
      } else if (key == "linkpath") {
        // Only meaningful for links, which are rejected anyway.
      }
      pos += len;
    }
    return absl::OkStatus();
  }

  // Consumes `size` bytes of entry data plus padding: appends them to `text`,
  // writes them to `out_fd`, or skips them.
  absl::Status ReadData(uint64_t size, std::string* text, int out_fd) {
    std::vector<char> buf(1 << 20);
    uint64_t left = size;
    while (left > 0) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
      absl::StatusOr<size_t> n =
          PreadFull(fd_, buf.data(), want, offset_, "bundle");
      if (!n.ok()) return n.status();
      if (*n != want) return Bad("truncated entry data");
      if (text != nullptr) text->append(buf.data(), want);
      if (out_fd >= 0) {
        absl::Status s = WriteAll(out_fd, buf.data(), want, "bundle file");
        if (!s.ok()) return s;
      }
      offset_ += static_cast<off_t>(want);
      left -= want;
    }
    uint64_t pad = (kBlock - size % kBlock) % kBlock;
    offset_ += static_cast<off_t>(pad);
    return absl::OkStatus();
  }

  int fd_;
  int out_;
  const std::string& reference_;
  off_t offset_ = 0;
};

}  // namespace

bool LooksLikeTar(const unsigned char* block, size_t len) {
  return len >= kBlock && (IsUstar(block) || IsGnu(block));
}

absl::StatusOr<BundleContents> ExtractBundle(int tar_fd, int out_dir_fd,
                                             const std::string& reference) {
  return Extractor(tar_fd, out_dir_fd, reference).Run();
}

}  // namespace vmmap::images_internal
