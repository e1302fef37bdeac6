// errno → absl::Status, with the codes abseil means: the one mapping the
// server uses for every failed system call.
#ifndef VMMAP_SERVER_BASE_ERRNO_STATUS_H_
#define VMMAP_SERVER_BASE_ERRNO_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace vmmap {

// ENOENT/ENOTDIR → NotFound, EEXIST → AlreadyExists, EACCES/EPERM/EROFS →
// PermissionDenied, ENOSPC/EDQUOT/EMFILE/ENFILE/ENOMEM → ResourceExhausted,
// EINVAL/ENAMETOOLONG/ELOOP → InvalidArgument, EINTR/EAGAIN/EBUSY →
// Unavailable, EIO → DataLoss, anything else → Unknown. The message is
// "<what>: <strerror>".
absl::Status ErrnoToStatus(int err, absl::string_view what);

}  // namespace vmmap

#endif  // VMMAP_SERVER_BASE_ERRNO_STATUS_H_
