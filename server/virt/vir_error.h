// Translation of libvirt errors into absl::Status.
//
// libvirt reports failures through a thread-local "last error" (code +
// message); this file turns them into absl codes callers can act on, keeps
// the libvirt code as a payload for the reconnect logic, and rewrites the
// memlock failure into a message that says how to fix the host.

#ifndef VMMAP_SERVER_VIRT_VIR_ERROR_H_
#define VMMAP_SERVER_VIRT_VIR_ERROR_H_

#include <optional>
#include <string_view>

#include "absl/status/status.h"

namespace vmmap::virt {

// Payload URL under which the raw virErrorNumber is attached (decimal text).
inline constexpr std::string_view kVirErrorCodePayload = "type.vmmap.io/libvirt.error-code";

// Maps a libvirt error (virErrorNumber `code`, libvirt's `message`) raised
// while performing `operation` (e.g. `start domain "pod-1"`) to a status:
//   NO_DOMAIN, NO_DOMAIN_METADATA               -> NotFound
//   OPERATION_INVALID                           -> FailedPrecondition
//   XML_ERROR, XML_DETAIL, XML_INVALID_SCHEMA,
//     CONFIG_UNSUPPORTED, INVALID_ARG           -> InvalidArgument
//   NO_CONNECT, RPC, "client socket is closed",
//     SYSTEM_ERROR about the transport          -> Unavailable
//   locked-memory failure (any code)            -> FailedPrecondition
//   INTERNAL_ERROR "already/not running"        -> FailedPrecondition
//   OPERATION_FAILED "already exists"           -> AlreadyExists
//   INVALID_ARG "unsupported flags"             -> Unimplemented
//   ... a few more (see .cc); anything else     -> Internal.
// (Codes are VIR_ERR_*.) The result is never OK, its message is
// "<operation>: <libvirt message>" (plus remedy advice for memlock), and it
// carries `code` under kVirErrorCodePayload.
absl::Status StatusFromVirError(int code, std::string_view message, std::string_view operation);

// Reads libvirt's last error on this thread and translates it. Call right
// after the failing libvirt function, before any other libvirt call.
absl::Status LastVirErrorStatus(std::string_view operation);

// The virErrorNumber attached by StatusFromVirError, if any.
std::optional<int> VirErrorCode(const absl::Status& status);

// True when the status says the connection to the daemon is gone (as opposed
// to the daemon refusing the request): the caller should reopen and retry.
bool IsConnectionLoss(const absl::Status& status);

// True for a driver rejecting flags it does not implement ("unsupported
// flags (0x..) in function ..."), which lets callers retry with fewer flags.
bool IsUnsupportedFlags(const absl::Status& status);

// Makes libvirt stop printing every error to stderr (its default); errors
// are still recorded and reported through the API. Idempotent, process-wide.
void SilenceLibvirtErrorPrinting();

}  // namespace vmmap::virt

#endif  // VMMAP_SERVER_VIRT_VIR_ERROR_H_
