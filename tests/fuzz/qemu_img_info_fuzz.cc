// `qemu-img info` JSON and disk headers come from image authors: any bytes
// must be accepted as a self-contained qcow2/raw disk or refused with
// InvalidArgument/DataLoss naming the image, never crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "server/images/disk_inspect.h"

using vmmap::images_internal::CheckQcow2Header;
using vmmap::images_internal::DetectDiskFormat;
using vmmap::images_internal::DiskFormat;
using vmmap::images_internal::ParseQemuImgInfo;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  for (DiskFormat format : {DiskFormat::kQcow2, DiskFormat::kRaw}) {
    auto info = ParseQemuImgInfo(text, format, "fuzz.img");
    if (!info.ok()) {
      absl::StatusCode code = info.status().code();
      if (code != absl::StatusCode::kInvalidArgument && code != absl::StatusCode::kDataLoss)
        abort();
      if (!absl::StrContains(info.status().message(), "fuzz.img")) abort();
      continue;
    }
    if (info->format != format) abort();
  }
  auto format = DetectDiskFormat(data, size, "fuzz.img");
  if (format.ok() && *format == DiskFormat::kQcow2) {
    absl::Status s = CheckQcow2Header(data, size, "fuzz.img");
    if (!s.ok() && s.code() != absl::StatusCode::kInvalidArgument) abort();
  }
  return 0;
}
