// ExecSync through qemu-guest-agent against a real `vmmap serve` (embedded
// QEMU driver) and real TCG guests built by tests/e2e/guest/build-guest.sh:
//  * "exec":    the agent runs (the guest's default);
//  * "noagent": the guest never starts the agent (vmmap.qga=0);
//  * "blocked": the agent refuses guest-exec (vmmap.qga_block=guest-exec,
//               what RHEL's default allow-list does);
//  * "created": a container that was never started.
// The guests boot once in SetUpTestSuite; every wait is for a console line
// or a state, with deadlines of minutes; no test measures time.
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/e2e/harness.h"

namespace vmmap::e2e {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;
using ::testing::AnyOf;
using ::testing::HasSubstr;

constexpr std::chrono::minutes kBootDeadline{5};

struct ExecOutcome {
  grpc::Status status;
  v1::ExecSyncResponse response;
};

struct Suite {
  std::string state_dir;
  std::unique_ptr<ServerProcess> server;
  std::string image;
  Pod exec, noagent, blocked, created;
  bool booted = false;
};

class ExecSyncTest : public ::testing::Test {
 protected:
  static std::string Console(const Pod& pod) {
    return ReadFileOrEmpty(s_->state_dir + "/containers/" + pod.container_id + "/console.log");
  }

  static ExecOutcome Exec(const Pod& pod, const std::vector<std::string>& cmd,
                          int64_t timeout_seconds = 60) {
    v1::ExecSyncRequest request;
    request.set_container_id(pod.container_id);
    for (const std::string& word : cmd) request.add_cmd(word);
    request.set_timeout(timeout_seconds);
    ExecOutcome out;
    out.status = s_->server->runtime().ExecSync(Context().get(), request, &out.response);
    return out;
  }

  static void SetUpTestSuite() {
    s_ = new Suite;
    const Fixtures& f = GetFixtures();
    s_->state_dir = f.work_dir + "/exec";
    s_->server = std::make_unique<ServerProcess>(s_->state_dir, ServerOptions{});
    s_->server->Start();
    s_->image = PullBundle(*s_->server);
    s_->exec = CreatePod(*s_->server, PodRequest{"exec", s_->image, 1000, 256 << 20, 1, {}, {}});
    s_->noagent = CreatePod(
        *s_->server, PodRequest{"noagent", s_->image, 1000, 256 << 20, 1, {"vmmap.qga=0"}, {}});
    s_->blocked = CreatePod(
        *s_->server,
        PodRequest{"blocked", s_->image, 1000, 256 << 20, 1, {"vmmap.qga_block=guest-exec"}, {}});
    s_->created =
        CreatePod(*s_->server, PodRequest{"created", s_->image, 1000, 256 << 20, 1, {}, {}});
    for (const Pod* pod : {&s_->exec, &s_->noagent, &s_->blocked}) {
      grpc::Status started = StartContainer(*s_->server, pod->container_id);
      ASSERT_TRUE(started.ok()) << started.error_message() << "\n" << s_->server->log();
    }
    s_->booted = WaitFor(
        [] {
          for (const Pod* pod : {&s_->exec, &s_->noagent, &s_->blocked}) {
            if (Console(*pod).find("VMMAP-GUEST-BOOTED") == std::string::npos) return false;
          }
          return true;
        },
        kBootDeadline);
  }

  static void TearDownTestSuite() {
    if (s_ == nullptr) return;
    if (s_->server && s_->server->running()) {
      for (const Pod* pod : {&s_->exec, &s_->noagent, &s_->blocked, &s_->created}) {
        if (!pod->sandbox_id.empty()) RemovePod(*s_->server, *pod);
      }
    }
    s_->server.reset();
    delete s_;
    s_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(s_, nullptr);
    AssertSuiteReady(s_->server.get(), s_->booted, kBootDeadline,
                     [] { return "exec console:\n" + Console(s_->exec); });
  }
  void TearDown() override { PrintServerLogOnFailure(s_->server.get()); }

  // libvirt connects to the agent once the guest opens its port (the
  // VSERPORT_CHANGE event), a moment after the console says the agent runs.
  static void WaitForAgent() {
    ASSERT_THAT(Console(s_->exec), HasSubstr("VMMAP-QGA-STARTED"));
    ExecOutcome last;
    const bool up = WaitFor(
        [&] {
          last = Exec(s_->exec, {"true"});
          return last.status.ok();
        },
        std::chrono::seconds(120));
    ASSERT_TRUE(up) << last.status.error_message();
  }

  static Suite* s_;
};

Suite* ExecSyncTest::s_ = nullptr;

TEST_F(ExecSyncTest, EchoReturnsItsOutputAndExitCodeZero) {
  WaitForAgent();
  ExecOutcome out = Exec(s_->exec, {"echo", "hello from the VM"});
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_EQ(out.response.exit_code(), 0);
  EXPECT_EQ(out.response.stdout(), "hello from the VM\n");
  EXPECT_EQ(out.response.stderr(), "");
}

TEST_F(ExecSyncTest, NonZeroExitCodeAndStderrAreReturned) {
  WaitForAgent();
  ExecOutcome out = Exec(s_->exec, {"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_EQ(out.response.exit_code(), 3);
  EXPECT_EQ(out.response.stdout(), "out\n");
  EXPECT_EQ(out.response.stderr(), "err\n");
}

TEST_F(ExecSyncTest, LivenessProbeFailsThenSucceeds) {
  // An exec liveness probe is exactly this ExecSync, judged by its exit code.
  WaitForAgent();
  const std::vector<std::string> probe = {"test", "-e", "/run/healthy"};
  ExecOutcome failing = Exec(s_->exec, probe, 1);
  ASSERT_TRUE(failing.status.ok()) << failing.status.error_message();
  EXPECT_NE(failing.response.exit_code(), 0);
  ASSERT_TRUE(Exec(s_->exec, {"touch", "/run/healthy"}).status.ok());
  ExecOutcome passing = Exec(s_->exec, probe, 1);
  ASSERT_TRUE(passing.status.ok()) << passing.status.error_message();
  EXPECT_EQ(passing.response.exit_code(), 0);
}

TEST_F(ExecSyncTest, BinaryOutputArrivesWhole) {
  WaitForAgent();
  ExecOutcome out =
      Exec(s_->exec, {"sh", "-c", "head -c 1048576 /dev/urandom | tee /run/blob | md5sum"});
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  ExecOutcome blob = Exec(s_->exec, {"cat", "/run/blob"});
  ASSERT_TRUE(blob.status.ok()) << blob.status.error_message();
  ASSERT_EQ(blob.response.stdout().size(), 1048576u);
  // The guest's digest of the bytes equals the digest of what arrived.
  const std::string local = GetFixtures().work_dir + "/exec-blob";
  { std::ofstream(local, std::ios::binary) << blob.response.stdout(); }
  EXPECT_EQ(Shell("md5sum < " + local + " | cut -d' ' -f1"),
            out.response.stdout().substr(0, 32) + "\n");
}

TEST_F(ExecSyncTest, TimeoutIsDeadlineExceededAndTheCommandIsKilled) {
  // kubelet's ExecSync turns DEADLINE_EXCEEDED into a timed-out probe.
  WaitForAgent();
  ExecOutcome out = Exec(s_->exec, {"sleep", "3600"}, 2);
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << out.status.error_message();
  EXPECT_THAT(out.status.error_message(), HasSubstr("timeout of 2 s"));
  // The agent was asked to kill it: no `sleep 3600` is left in the guest.
  ExecOutcome left;
  EXPECT_TRUE(WaitFor(
      [&] {
        left = Exec(s_->exec, {"sh", "-c", "ps | grep -c '[s]leep 3600'"});
        return left.status.ok() && left.response.stdout() == "0\n";
      },
      std::chrono::seconds(120)))
      << left.status.error_message() << " " << left.response.stdout();
}

TEST_F(ExecSyncTest, GuestWithoutAgentIsFailedPrecondition) {
  ASSERT_THAT(Console(s_->noagent), ::testing::Not(HasSubstr("VMMAP-QGA-STARTED")));
  ExecOutcome out = Exec(s_->noagent, {"true"});
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << out.status.error_message();
  EXPECT_THAT(out.status.error_message(), HasSubstr("guest agent"));
}

TEST_F(ExecSyncTest, AgentRefusingGuestExecIsFailedPrecondition) {
  ASSERT_THAT(Console(s_->blocked), HasSubstr("VMMAP-QGA-STARTED"));
  ExecOutcome out;
  // Until libvirt has connected to the agent the answer is "not connected";
  // both are FailedPrecondition; wait for the agent's own refusal.
  EXPECT_TRUE(WaitFor(
      [&] {
        out = Exec(s_->blocked, {"true"});
        return out.status.error_message().find("disabled") != std::string::npos;
      },
      std::chrono::seconds(120)))
      << out.status.error_message();
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(out.status.error_message(), HasSubstr("guest-exec"));
}

TEST_F(ExecSyncTest, BadRequestsAndContainersThatDoNotRun) {
  ExecOutcome empty = Exec(s_->exec, {});
  EXPECT_EQ(empty.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(empty.status.error_message(), HasSubstr("cmd"));
  ExecOutcome negative = Exec(s_->exec, {"true"}, -1);
  EXPECT_EQ(negative.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(negative.status.error_message(), HasSubstr("timeout: -1"));
  Pod unknown;
  unknown.container_id = "0123456789abcdef";
  EXPECT_EQ(Exec(unknown, {"true"}).status.error_code(), grpc::StatusCode::NOT_FOUND);
  ExecOutcome not_started = Exec(s_->created, {"true"});
  EXPECT_EQ(not_started.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(not_started.status.error_message(), HasSubstr("CONTAINER_CREATED"));
  // Streaming exec stays for a later issue.
  v1::ExecRequest stream;
  stream.set_container_id(s_->exec.container_id);
  stream.add_cmd("sh");
  v1::ExecResponse stream_response;
  EXPECT_EQ(s_->server->runtime().Exec(Context().get(), stream, &stream_response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(ExecSyncTest, RemoveLeavesNoAgentSocket) {
  const std::string socket =
      s_->state_dir + "/agent/" + s_->exec.container_id.substr(0, 16) + ".sock";
  EXPECT_TRUE(fs::exists(socket)) << socket;
  RemovePod(*s_->server, s_->exec);
  EXPECT_FALSE(fs::exists(socket)) << socket;
  EXPECT_EQ(Exec(s_->exec, {"true"}).status.error_code(), grpc::StatusCode::NOT_FOUND);
  s_->exec.sandbox_id.clear();
}

}  // namespace
}  // namespace vmmap::e2e
