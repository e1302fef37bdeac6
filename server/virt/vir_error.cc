#include "server/virt/vir_error.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "server/virt/sv.h"

namespace vmmap::virt {
namespace {

bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle) {
  return absl::StrContains(absl::AsciiStrToLower(ToAbsl(haystack)),
                           absl::AsciiStrToLower(ToAbsl(needle)));
}

// QEMU needs to lock guest memory for VFIO, mem-lock=on and some vhost
// setups; libvirt then raises the process' RLIMIT_MEMLOCK, which fails
// without CAP_SYS_RESOURCE or a high enough hard limit. The raw libvirt text
// ("cannot limit locked memory ...: Operation not permitted") does not tell
// an operator what to change, so this is recognised regardless of code.
bool IsMemlockFailure(std::string_view message) {
  return ContainsIgnoreCase(message, "cannot limit locked memory") ||
         ContainsIgnoreCase(message, "locking memory failed") ||
         ContainsIgnoreCase(message, "memlock");
}

constexpr std::string_view kMemlockAdvice =
    "the locked-memory limit (RLIMIT_MEMLOCK) is too low: libvirtd/virtqemud "
    "and the vmmap runtime must be allowed to lock guest memory. Fix: raise "
    "their memlock limit (e.g. LimitMEMLOCK=infinity in the systemd units of "
    "libvirtd/virtqemud and vmmap, then restart them) or grant them "
    "CAP_SYS_RESOURCE";

// Transport failures show up as VIR_ERR_SYSTEM_ERROR from the RPC client;
// the same code is also used for host-side I/O errors (e.g. opening a disk
// image), which must not look like an unreachable daemon.
bool IsTransportMessage(std::string_view message) {
  for (std::string_view needle :
       {"client socket is closed", "end of file while reading data", "cannot recv data",
        "cannot write data", "failed to connect socket", "connection reset by peer", "broken pipe",
        "unable to connect", "no connection driver available"}) {
    if (ContainsIgnoreCase(message, needle)) return true;
  }
  return false;
}

absl::StatusCode CodeFor(int code, std::string_view message) {
  if (IsMemlockFailure(message)) return absl::StatusCode::kFailedPrecondition;
  // Some drivers (notably the test driver) report state conflicts as
  // internal errors: "Domain 'x' is already running", "domain 'x' not
  // running". They are the caller's precondition, not libvirt's bug.
  if (code == VIR_ERR_INTERNAL_ERROR && (ContainsIgnoreCase(message, "already running") ||
                                         ContainsIgnoreCase(message, "not running"))) {
    return absl::StatusCode::kFailedPrecondition;
  }
  // Defining a second domain under an existing name (different uuid).
  if (code == VIR_ERR_OPERATION_FAILED && ContainsIgnoreCase(message, "already exists")) {
    return absl::StatusCode::kAlreadyExists;
  }
  // "unsupported flags (0x..) in function ...": the driver lacks a feature,
  // the caller did nothing wrong.
  if (code == VIR_ERR_INVALID_ARG && ContainsIgnoreCase(message, "unsupported flags")) {
    return absl::StatusCode::kUnimplemented;
  }
  switch (code) {
    case VIR_ERR_NO_DOMAIN:
    case VIR_ERR_NO_DOMAIN_METADATA:
    case VIR_ERR_NO_DOMAIN_SNAPSHOT:
      return absl::StatusCode::kNotFound;
    case VIR_ERR_OPERATION_INVALID:
      return absl::StatusCode::kFailedPrecondition;
    case VIR_ERR_XML_ERROR:
    case VIR_ERR_XML_DETAIL:
    case VIR_ERR_XML_INVALID_SCHEMA:
    case VIR_ERR_CONFIG_UNSUPPORTED:
    case VIR_ERR_INVALID_ARG:
      return absl::StatusCode::kInvalidArgument;
    case VIR_ERR_DOM_EXIST:
      return absl::StatusCode::kAlreadyExists;
    case VIR_ERR_NO_SUPPORT:
    case VIR_ERR_ARGUMENT_UNSUPPORTED:
    case VIR_ERR_OPERATION_UNSUPPORTED:
      return absl::StatusCode::kUnimplemented;
    case VIR_ERR_OPERATION_TIMEOUT:
    case VIR_ERR_AGENT_UNRESPONSIVE:
      return absl::StatusCode::kDeadlineExceeded;
    case VIR_ERR_OPERATION_DENIED:
    case VIR_ERR_ACCESS_DENIED:
    case VIR_ERR_AUTH_FAILED:
    case VIR_ERR_AUTH_CANCELLED:
    case VIR_ERR_AUTH_UNAVAILABLE:
      return absl::StatusCode::kPermissionDenied;
    case VIR_ERR_RESOURCE_BUSY:
      return absl::StatusCode::kResourceExhausted;
    case VIR_ERR_OPERATION_ABORTED:
      return absl::StatusCode::kAborted;
    case VIR_ERR_NO_CONNECT:
    case VIR_ERR_RPC:
      return absl::StatusCode::kUnavailable;
    case VIR_ERR_SYSTEM_ERROR:
    case VIR_ERR_INTERNAL_ERROR:
      return IsTransportMessage(message) ? absl::StatusCode::kUnavailable
                                         : absl::StatusCode::kInternal;
    default:
      return absl::StatusCode::kInternal;
  }
}

void IgnoreLibvirtError(void* /*user_data*/, virErrorPtr /*error*/) {}

}  // namespace

absl::Status StatusFromVirError(int code, std::string_view message, std::string_view operation) {
  if (message.empty()) message = "unknown libvirt error";
  std::string text =
      IsMemlockFailure(message)
          ? absl::StrCat(ToAbsl(operation), ": ", ToAbsl(message), "; ", ToAbsl(kMemlockAdvice))
          : absl::StrCat(ToAbsl(operation), ": ", ToAbsl(message));
  absl::Status status(CodeFor(code, message), text);
  status.SetPayload(ToAbsl(kVirErrorCodePayload), absl::Cord(absl::StrCat(code)));
  return status;
}

absl::Status LastVirErrorStatus(std::string_view operation) {
  virErrorPtr err = virGetLastError();
  if (err == nullptr) {
    return StatusFromVirError(VIR_ERR_INTERNAL_ERROR, "libvirt failed without reporting an error",
                              operation);
  }
  return StatusFromVirError(err->code, err->message ? err->message : "", operation);
}

std::optional<int> VirErrorCode(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(ToAbsl(kVirErrorCodePayload));
  int code = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &code)) {
    return std::nullopt;
  }
  return code;
}

bool IsConnectionLoss(const absl::Status& status) {
  return VirErrorCode(status).has_value() && status.code() == absl::StatusCode::kUnavailable;
}

bool IsUnsupportedFlags(const absl::Status& status) {
  std::optional<int> code = VirErrorCode(status);
  return code == VIR_ERR_INVALID_ARG && absl::StrContains(status.message(), "unsupported flags");
}

void SilenceLibvirtErrorPrinting() { virSetErrorFunc(nullptr, IgnoreLibvirtError); }

}  // namespace vmmap::virt
