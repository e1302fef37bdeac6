#include "server/base/errno_status.h"
#include "server/images/disk_inspect.h"

#include <fcntl.h>
#include <string.h>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/images/fs_util.h"
#include "server/images/subprocess.h"

namespace vmmap::images_internal {
namespace {

constexpr size_t kMaxInfoOutput = 1 << 20;
constexpr uint64_t kQcow2IncompatDataFile = 1u << 2;

uint32_t Be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
uint64_t Be64(const unsigned char* p) { return (uint64_t{Be32(p)} << 32) | Be32(p + 4); }

absl::Status Refused(const std::string& what, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("disk image ", what, " refused: ", why));
}

std::string Quoted(absl::string_view s) {
  return absl::StrCat("\"", absl::CHexEscape(s.substr(0, 256)), "\"");
}

}  // namespace

const char* DiskFormatName(DiskFormat format) {
  return format == DiskFormat::kQcow2 ? "qcow2" : "raw";
}

absl::StatusOr<DiskFormat> DetectDiskFormat(const unsigned char* head, size_t len,
                                            const std::string& what) {
  auto starts = [&](const char* magic, size_t n, size_t at = 0) {
    return len >= at + n && memcmp(head + at, magic, n) == 0;
  };
  if (starts("QFI\xfb", 4)) return DiskFormat::kQcow2;
  struct Known {
    const char* magic;
    size_t size;
    size_t offset;
    const char* name;
  };
  static const Known kOthers[] = {
      {"KDMV", 4, 0, "vmdk"},
      {"# Disk DescriptorFile", 21, 0, "vmdk (descriptor)"},
      {"COWD", 4, 0, "vmdk (ESX sparse)"},
      {"<<< Oracle VM VirtualBox Disk Image >>>", 39, 0, "vdi"},
      {"\x7f\x10\xda\xbe", 4, 64, "vdi"},
      {"vhdxfile", 8, 0, "vhdx"},
      {"conectix", 8, 0, "vpc (vhd)"},
      {"QED\0", 4, 0, "qed"},
      {"LUKS\xba\xbe", 6, 0, "luks"},
      {"WithoutFreeSpace", 16, 0, "parallels"},
      {"WithouFreSpacExt", 16, 0, "parallels"},
      {"Bochs Virtual HD Image", 22, 0, "bochs"},
      {"#!/bin/sh\n#V2.0 Format", 22, 0, "cloop"},
      {"OOOM", 4, 0, "qcow (version 1)"},
  };
  for (const Known& k : kOthers) {
    if (starts(k.magic, k.size, k.offset)) {
      return Refused(what, absl::StrCat("format ", k.name, " (accepted formats: qcow2, raw)"));
    }
  }
  return DiskFormat::kRaw;
}

absl::Status CheckQcow2Header(const unsigned char* head, size_t len, const std::string& what) {
  if (len < 72) return Refused(what, "truncated qcow2 header");
  uint32_t version = Be32(head + 4);
  if (version != 2 && version != 3) {
    return Refused(what,
                   absl::StrCat("qcow2 header field version is ", version, " (accepted: 2, 3)"));
  }
  if (Be64(head + 8) != 0 || Be32(head + 16) != 0) {
    return Refused(what,
                   "the qcow2 header names a backing file (field "
                   "backing_file_offset); images must be self-contained");
  }
  if (Be32(head + 32) != 0) {
    return Refused(what,
                   "the qcow2 header field crypt_method is set "
                   "(encrypted images are not supported)");
  }
  if (version == 3) {
    if (len < 80) return Refused(what, "truncated qcow2 v3 header");
    if (Be64(head + 72) & kQcow2IncompatDataFile) {
      return Refused(what,
                     "the qcow2 header uses an external data file (field "
                     "incompatible_features bit 2, data-file); images must "
                     "be self-contained");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<DiskInfo> ParseQemuImgInfo(absl::string_view json, DiskFormat expected,
                                          const std::string& what) {
  nlohmann::json info = nlohmann::json::parse(json.begin(), json.end(), nullptr,
                                              /*allow_exceptions=*/false);
  if (info.is_discarded() || !info.is_object()) {
    return absl::DataLossError(
        absl::StrCat("disk image ", what, ": qemu-img info printed no JSON object"));
  }
  for (const char* field :
       {"backing-filename", "full-backing-filename", "backing-filename-format", "backing-image"}) {
    auto it = info.find(field);
    if (it != info.end()) {
      std::string value = it->is_string() ? it->get<std::string>() : it->dump();
      return Refused(what, absl::StrCat("qemu-img info field ", field, " is ", Quoted(value),
                                        "; images must be self-contained"));
    }
  }
  auto format = info.find("format");
  if (format == info.end() || !format->is_string()) {
    return absl::DataLossError(
        absl::StrCat("disk image ", what, ": qemu-img info has no field format"));
  }
  if (format->get<std::string>() != DiskFormatName(expected)) {
    return Refused(
        what, absl::StrCat("qemu-img info field format is ", Quoted(format->get<std::string>()),
                           ", expected ", DiskFormatName(expected)));
  }
  auto specific = info.find("format-specific");
  if (specific != info.end() && specific->is_object()) {
    auto data = specific->find("data");
    if (data != specific->end() && data->is_object()) {
      auto data_file = data->find("data-file");
      if (data_file != data->end()) {
        std::string value =
            data_file->is_string() ? data_file->get<std::string>() : data_file->dump();
        return Refused(what, absl::StrCat("qemu-img info field format-specific.data."
                                          "data-file is ",
                                          Quoted(value), "; images must be self-contained"));
      }
      auto corrupt = data->find("corrupt");
      if (corrupt != data->end() && corrupt->is_boolean() && corrupt->get<bool>()) {
        return Refused(what,
                       "qemu-img info field format-specific.data."
                       "corrupt is true");
      }
    }
  }
  DiskInfo result;
  result.format = expected;
  auto size = info.find("virtual-size");
  if (size == info.end() || !size->is_number_unsigned()) {
    return absl::DataLossError(
        absl::StrCat("disk image ", what, ": qemu-img info has no field virtual-size"));
  }
  result.virtual_size = size->get<uint64_t>();
  return result;
}

absl::StatusOr<DiskInfo> InspectDisk(const std::string& path, const std::string& what,
                                     std::chrono::milliseconds timeout) {
  unsigned char head[512] = {0};
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return ErrnoToStatus(errno, absl::StrCat("open ", path));
  absl::StatusOr<size_t> n = PreadFull(fd.get(), head, sizeof head, 0, path);
  if (!n.ok()) return n.status();
  absl::StatusOr<DiskFormat> format = DetectDiskFormat(head, *n, what);
  if (!format.ok()) return format.status();
  if (*format == DiskFormat::kQcow2) {
    absl::Status s = CheckQcow2Header(head, *n, what);
    if (!s.ok()) return s;
  }
  absl::StatusOr<ProgramOutput> out =
      RunProgram({"qemu-img", "info", "--output=json", "-U", "-f", DiskFormatName(*format), path},
                 timeout, kMaxInfoOutput);
  if (!out.ok()) {
    if (absl::IsInternal(out.status())) {
      // qemu-img could not make sense of the file: the image's fault.
      return Refused(what, out.status().message());
    }
    return out.status();
  }
  return ParseQemuImgInfo(out->out, *format, what);
}

}  // namespace vmmap::images_internal
