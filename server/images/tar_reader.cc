#include "server/images/tar_reader.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace vmmap::images_internal {
namespace {

constexpr size_t kBlock = 512;
constexpr uint64_t kMaxMetaSize = 1 << 20;  // pax / GNU long-name payloads

bool IsUstar(const unsigned char* h) { return std::memcmp(h + 257, "ustar\0", 6) == 0; }
bool IsGnu(const unsigned char* h) { return std::memcmp(h + 257, "ustar ", 6) == 0; }

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

}  // namespace

absl::Status TarReader::Bad(absl::string_view why) const {
  return absl::InvalidArgumentError(absl::StrCat(what_, ": ", why));
}

absl::Status TarReader::ReadExact(char* buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    absl::StatusOr<size_t> got = source_.Read(buf + done, n - done);
    if (!got.ok()) return got.status();
    if (*got == 0) return Bad("truncated entry data");
    done += *got;
  }
  return absl::OkStatus();
}

absl::Status TarReader::ReadData(const std::function<absl::Status(absl::string_view)>& sink) {
  std::vector<char> buf(1 << 17);
  while (data_left_ > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(data_left_, buf.size()));
    absl::Status s = ReadExact(buf.data(), want);
    if (!s.ok()) return s;
    data_left_ -= want;
    s = sink(absl::string_view(buf.data(), want));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> TarReader::ReadSmallData(size_t max, absl::string_view name) {
  if (data_left_ > max) {
    return Bad(absl::StrCat(name, " is larger than ", max, " bytes"));
  }
  std::string text;
  absl::Status s = ReadData([&](absl::string_view piece) {
    text.append(piece.data(), piece.size());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return text;
}

absl::Status TarReader::SkipRest() {
  absl::Status s = ReadData([](absl::string_view) { return absl::OkStatus(); });
  if (!s.ok()) return s;
  char pad[kBlock];
  if (padding_ > 0) {
    s = ReadExact(pad, static_cast<size_t>(padding_));
    if (!s.ok()) return s;
    padding_ = 0;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> TarReader::Normalize(const std::string& name) const {
  if (name.find('\0') != std::string::npos) return Bad("NUL in entry name");
  if (!name.empty() && name[0] == '/') {
    return Bad(absl::StrCat("absolute entry name \"", absl::CHexEscape(name), "\""));
  }
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(name, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      return Bad(absl::StrCat("entry name \"", absl::CHexEscape(name), "\" contains \"..\""));
    }
    parts.push_back(part);
  }
  return absl::StrJoin(parts, "/");
}

absl::Status TarReader::ParsePax(const std::string& payload) {
  size_t pos = 0;
  while (pos < payload.size()) {
    size_t sp = payload.find(' ', pos);
    if (sp == std::string::npos) return Bad("malformed pax header");
    uint64_t len = 0;
    if (!absl::SimpleAtoi(absl::string_view(payload).substr(pos, sp - pos), &len) ||
        len < sp - pos + 3 || len > payload.size() - pos || payload[pos + len - 1] != '\n') {
      return Bad("malformed pax header");
    }
    absl::string_view rec(payload.data() + sp + 1, pos + len - 1 - (sp + 1));
    size_t eq = rec.find('=');
    if (eq == absl::string_view::npos) return Bad("malformed pax header");
    absl::string_view key = rec.substr(0, eq), value = rec.substr(eq + 1);
    if (key == "path") {
      has_pax_path_ = true;
      pax_path_ = std::string(value);
    } else if (key == "linkpath") {
      has_pax_link_ = true;
      pax_link_ = std::string(value);
    } else if (key == "size") {
      if (!absl::SimpleAtoi(value, &pax_size_)) return Bad("bad pax size");
      has_pax_size_ = true;
    }
    pos += len;
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> TarReader::Next(TarEntry* entry) {
  absl::Status s = SkipRest();
  if (!s.ok()) return s;
  unsigned char h[kBlock];
  while (true) {
    size_t got = 0;
    while (got < kBlock) {
      absl::StatusOr<size_t> n = source_.Read(reinterpret_cast<char*>(h) + got, kBlock - got);
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      got += *n;
    }
    if (got == 0) return false;  // lenient: EOF without end-of-archive blocks
    if (got != kBlock) return Bad("truncated header");
    if (AllZero(h)) return false;
    if (!IsUstar(h) && !IsGnu(h)) return Bad("entry without ustar magic");
    if (!ChecksumOk(h)) return Bad("header checksum mismatch");
    std::optional<uint64_t> size = Number(h, 124, 12);
    if (!size) return Bad("bad size field");
    char type = static_cast<char>(h[156]);
    if (has_pax_size_ && type != 'x' && type != 'g') size = pax_size_;
    data_left_ = *size;
    padding_ = (kBlock - *size % kBlock) % kBlock;

    if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
      if (*size > kMaxMetaSize) return Bad("oversized metadata entry");
      absl::StatusOr<std::string> payload = ReadSmallData(kMaxMetaSize, "metadata entry");
      if (!payload.ok()) return payload.status();
      s = SkipRest();
      if (!s.ok()) return s;
      if (type == 'x') {
        s = ParsePax(*payload);
        if (!s.ok()) return s;
      } else if (type == 'L') {
        has_pax_path_ = true;
        pax_path_ = std::string(payload->c_str());  // up to the first NUL
      } else if (type == 'K') {
        has_pax_link_ = true;
        pax_link_ = std::string(payload->c_str());
      }
      // 'g' (global pax) records are ignored.
      continue;
    }
    std::string name;
    if (has_pax_path_) {
      name = pax_path_;
    } else {
      name = Field(h, 0, 100);
      std::string prefix = IsUstar(h) ? Field(h, 345, 155) : "";
      if (!prefix.empty()) name = absl::StrCat(prefix, "/", name);
    }
    entry->link = has_pax_link_ ? pax_link_ : Field(h, 157, 100);
    has_pax_path_ = has_pax_size_ = has_pax_link_ = false;
    absl::StatusOr<std::string> norm = Normalize(name);
    if (!norm.ok()) return norm.status();
    entry->name = *norm;
    entry->type = type;
    entry->size = *size;
    // Links, devices, FIFOs and directories carry no data: readers disagree
    // on what a size there means, so it is refused rather than guessed.
    if (type >= '1' && type <= '6' && *size != 0) {
      return Bad(type == '5' ? "directory entry with data"
                             : "link or special file entry with data");
    }
    return true;
  }
}

}  // namespace vmmap::images_internal
