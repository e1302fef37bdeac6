// StatusFromVirError is a pure function; these cases pin the mapping the
// server relies on (retry on Unavailable, surface memlock advice, ...).

#include "server/virt/vir_error.h"

#include <libvirt/virterror.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmap::virt {
namespace {

using ::testing::HasSubstr;

TEST(StatusFromVirErrorTest, MapsCodes) {
  struct Case {
    int code;
    const char* message;
    absl::StatusCode want;
  } cases[] = {
      {VIR_ERR_NO_DOMAIN, "Domain not found", absl::StatusCode::kNotFound},
      {VIR_ERR_NO_DOMAIN_METADATA, "metadata not found", absl::StatusCode::kNotFound},
      {VIR_ERR_OPERATION_INVALID, "domain is already running",
       absl::StatusCode::kFailedPrecondition},
      {VIR_ERR_XML_ERROR, "XML error", absl::StatusCode::kInvalidArgument},
      {VIR_ERR_XML_DETAIL, "bad xml", absl::StatusCode::kInvalidArgument},
      {VIR_ERR_XML_INVALID_SCHEMA, "failed to validate", absl::StatusCode::kInvalidArgument},
      {VIR_ERR_CONFIG_UNSUPPORTED, "unsupported configuration", absl::StatusCode::kInvalidArgument},
      {VIR_ERR_NO_CONNECT, "no connection driver available", absl::StatusCode::kUnavailable},
      {VIR_ERR_RPC, "rpc failure", absl::StatusCode::kUnavailable},
      {VIR_ERR_INTERNAL_ERROR, "internal error: client socket is closed",
       absl::StatusCode::kUnavailable},
      {VIR_ERR_SYSTEM_ERROR, "End of file while reading data: Input/output error",
       absl::StatusCode::kUnavailable},
      // A host-side I/O error is not an unreachable daemon.
      {VIR_ERR_SYSTEM_ERROR, "cannot open file '/x.qcow2': Permission denied",
       absl::StatusCode::kInternal},
      {VIR_ERR_INTERNAL_ERROR, "internal error: qemu died", absl::StatusCode::kInternal},
      {VIR_ERR_NO_SUPPORT, "this function is not supported", absl::StatusCode::kUnimplemented},
      {VIR_ERR_ARGUMENT_UNSUPPORTED, "parameter not supported", absl::StatusCode::kUnimplemented},
  };
  for (const Case& c : cases) {
    absl::Status s = StatusFromVirError(c.code, c.message, "op");
    EXPECT_EQ(s.code(), c.want) << c.code << " " << c.message;
    EXPECT_EQ(VirErrorCode(s), c.code);
  }
}

TEST(StatusFromVirErrorTest, MessageNamesOperationAndLibvirtText) {
  absl::Status s =
      StatusFromVirError(VIR_ERR_NO_DOMAIN, "Domain not found: no domain with matching name 'p1'",
                         "start domain \"p1\"");
  EXPECT_EQ(s.message(),
            "start domain \"p1\": Domain not found: no domain with matching "
            "name 'p1'");
}

TEST(StatusFromVirErrorTest, EmptyMessageStillSaysSomething) {
  absl::Status s = StatusFromVirError(VIR_ERR_INTERNAL_ERROR, "", "op");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("unknown libvirt error"));
}

TEST(StatusFromVirErrorTest, MemlockBecomesFailedPreconditionWithAdvice) {
  for (const char* msg : {"cannot limit locked memory of process 4242 to 2147483648: "
                          "Operation not permitted",
                          "internal error: qemu unexpectedly closed the monitor: "
                          "os_mlock: locking memory failed",
                          "unable to set RLIMIT_MEMLOCK", "Memlock limit too low"}) {
    // The code does not matter: qemu's failure arrives as INTERNAL_ERROR,
    // libvirt's own as SYSTEM_ERROR.
    for (int code : {VIR_ERR_SYSTEM_ERROR, VIR_ERR_INTERNAL_ERROR, VIR_ERR_OPERATION_FAILED}) {
      absl::Status s = StatusFromVirError(code, msg, "start domain \"p1\"");
      EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << msg;
      EXPECT_THAT(std::string(s.message()), HasSubstr("start domain \"p1\""));
      EXPECT_THAT(std::string(s.message()), HasSubstr(msg));
      EXPECT_THAT(std::string(s.message()), HasSubstr("RLIMIT_MEMLOCK"));
      EXPECT_THAT(std::string(s.message()), HasSubstr("CAP_SYS_RESOURCE"));
      EXPECT_THAT(std::string(s.message()), HasSubstr("LimitMEMLOCK=infinity"));
      EXPECT_FALSE(IsConnectionLoss(s));
    }
  }
}

TEST(StatusFromVirErrorTest, ConnectionLossOnlyForTransportFailures) {
  EXPECT_TRUE(IsConnectionLoss(
      StatusFromVirError(VIR_ERR_INTERNAL_ERROR, "internal error: client socket is closed", "op")));
  EXPECT_FALSE(IsConnectionLoss(StatusFromVirError(VIR_ERR_NO_DOMAIN, "Domain not found", "op")));
  // Unavailable that did not come from libvirt is not ours to retry.
  EXPECT_FALSE(IsConnectionLoss(absl::UnavailableError("x")));
}

TEST(StatusFromVirErrorTest, RecognisesUnsupportedFlags) {
  EXPECT_TRUE(IsUnsupportedFlags(StatusFromVirError(
      VIR_ERR_INVALID_ARG, "unsupported flags (0x14) in function testDomainUndefineFlags", "op")));
  EXPECT_FALSE(IsUnsupportedFlags(StatusFromVirError(VIR_ERR_INVALID_ARG, "bad argument", "op")));
}

}  // namespace
}  // namespace vmmap::virt
