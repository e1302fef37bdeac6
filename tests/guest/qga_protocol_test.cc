// The QGA messages vmmap writes and the replies it accepts, without a guest:
// what a hostile or broken agent can send is refused as DataLoss, and output
// is bounded before it is decoded.
#include "server/guest/qga_protocol.h"

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmap::guest {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

TEST(QgaProtocol, GuestExecRequestCarriesArgvVerbatimWithCapturedOutput) {
  const json request = json::parse(GuestExecRequest({"sh", "-c", "echo \"$HOME\"; exit 3"}));
  EXPECT_EQ(request["execute"], "guest-exec");
  EXPECT_EQ(request["arguments"]["path"], "sh");
  EXPECT_EQ(request["arguments"]["arg"], json::array({"-c", "echo \"$HOME\"; exit 3"}));
  EXPECT_EQ(request["arguments"]["capture-output"], true);
}

TEST(QgaProtocol, InvalidUtf8InAnArgumentDoesNotThrow) {
  const std::string request = GuestExecRequest({"echo", std::string("\xff\xfe", 2)});
  EXPECT_TRUE(json::accept(request)) << request;
}

TEST(QgaProtocol, PidOfGuestExec) {
  absl::StatusOr<int64_t> pid = ParseGuestExecReply(R"({"return":{"pid":4711}})");
  ASSERT_TRUE(pid.ok()) << pid.status();
  EXPECT_EQ(*pid, 4711);
  EXPECT_EQ(ParseGuestExecReply(R"({"return":{}})").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseGuestExecReply("not json").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseGuestExecReply(R"({"return":{"pid":"1"}})").status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(QgaProtocol, StatusRequestNamesThePid) {
  const json request = json::parse(GuestExecStatusRequest(12));
  EXPECT_EQ(request["execute"], "guest-exec-status");
  EXPECT_EQ(request["arguments"]["pid"], 12);
}

TEST(QgaProtocol, RunningProcess) {
  absl::StatusOr<GuestExecStatus> s = ParseGuestExecStatusReply(R"({"return":{"exited":false}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->exited);
}

TEST(QgaProtocol, ExitedProcessWithBothStreams) {
  const std::string reply = json{{"return",
                                  {{"exited", true},
                                   {"exitcode", 3},
                                   {"out-data", absl::Base64Escape("hello\n")},
                                   {"err-data", absl::Base64Escape("oops\n")}}}}
                                .dump();
  absl::StatusOr<GuestExecStatus> s = ParseGuestExecStatusReply(reply);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->exited);
  EXPECT_EQ(s->exit_code, 3);
  EXPECT_EQ(s->stdout_bytes, "hello\n");
  EXPECT_EQ(s->stderr_bytes, "oops\n");
  EXPECT_FALSE(s->stdout_truncated);
}

TEST(QgaProtocol, KilledBySignalIs128PlusTheSignal) {
  absl::StatusOr<GuestExecStatus> s =
      ParseGuestExecStatusReply(R"({"return":{"exited":true,"signal":9}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->exit_code, 137);
}

TEST(QgaProtocol, OutputIsCutAtTheBoundBeforeDecoding) {
  const std::string big(kMaxStreamBytes + 3000, 'x');
  const std::string reply =
      json{{"return", {{"exited", true}, {"exitcode", 0}, {"out-data", absl::Base64Escape(big)}}}}
          .dump();
  absl::StatusOr<GuestExecStatus> s = ParseGuestExecStatusReply(reply);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->stdout_bytes.size(), kMaxStreamBytes);
  EXPECT_TRUE(s->stdout_truncated);
}

TEST(QgaProtocol, HostileRepliesAreDataLoss) {
  for (const char* reply : {
           R"({"return":{"exited":true}})",                                // no code
           R"({"return":{"exited":true,"exitcode":-1}})",                  // out of range
           R"({"return":{"exited":true,"exitcode":70000}})",               // out of range
           R"({"return":{"exited":true,"signal":1000}})",                  // out of range
           R"({"return":{"exited":true,"exitcode":0,"out-data":"@@@"}})",  // not base64
           R"({"return":{"exited":true,"exitcode":0,"err-data":5}})",      // not a string
           R"({"return":{"exited":"yes"}})",
           R"({"error":{"class":"GenericError","desc":"x"}})",
           R"([1,2])",
       }) {
    absl::StatusOr<GuestExecStatus> s = ParseGuestExecStatusReply(reply);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss) << reply;
    EXPECT_THAT(std::string(s.status().message()), HasSubstr("guest-exec-status")) << reply;
  }
}

}  // namespace
}  // namespace vmmap::guest
