// libvirtd (qemu:///system) killed with SIGKILL in the middle of
// CreateContainer and StartContainer: the call fails cleanly (UNAVAILABLE,
// naming libvirt), nothing half-made remains (row, container directory,
// domain, QEMU, cgroup directory), and once libvirtd is back kubelet's retry
// succeeds.
//
// Where the kill lands, observed from outside the product:
// - CreateContainer: libvirtd is stopped (SIGSTOP) before the call is sent,
//   so the call is waiting on libvirtd when it is killed (its container
//   directory exists: it is past its own steps);
// - StartContainer: libvirtd is inside virDomainCreate, launching QEMU (the
//   domain's cgroup exists; the emulator wrapper holds QEMU back for a few
//   seconds so this holds on any machine).
// Only a libvirtd the harness started itself is killed.
#include <signal.h>

#include <chrono>
#include <future>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/e2e/harness.h"
#include "tests/fault/fault_checks.h"

namespace vmmap::e2e {
namespace {

namespace v1 = runtime::v1;

constexpr std::chrono::minutes kDeadline{5};
const char* const kPod = "lvkill";

std::string LibvirtdDir() { return GetFixtures().work_dir + "/libvirtd"; }

int StartLibvirtd() {
  return ShellStatus(std::string(VMMAP_SOURCE_DIR) + "/tests/harness/libvirtd.sh start " +
                     LibvirtdDir() + " >/dev/null");
}

// The pid of the libvirtd the harness started, or -1.
pid_t OurLibvirtd() {
  const std::string pid = ReadFileOrEmpty(LibvirtdDir() + "/libvirtd.started-pid");
  return pid.empty() ? -1 : static_cast<pid_t>(std::stol(pid));
}

// Kills libvirtd with SIGKILL and waits until it is gone.
void KillLibvirtd(pid_t pid) {
  kill(pid, SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return kill(pid, 0) != 0; }, kDeadline)) << "libvirtd survived";
}

// Domains of the pod that libvirtd knows (running or defined).
std::string PodDomains() {
  return Shell(std::string("virsh -c qemu:///system list --all --name | grep 'vmmap-e2e-") + kPod +
               "-' || true");
}

class LibvirtdKillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(StartLibvirtd(), 0);
    if (OurLibvirtd() < 0) {
      GTEST_SKIP() << "a libvirtd not started by the test harness runs here; the test kills "
                      "only a daemon it started";
    }
    ServerOptions options;
    options.libvirt_uri = "qemu:///system";
    options.extra_flags = {"--emulator", SlowStartEmulator(kPod, 5)};  // the last one wins
    server_ = std::make_unique<ServerProcess>(GetFixtures().work_dir + "/libvirtd-kill", options);
    server_->Start();
    image_ = PullBundle(*server_);
  }
  void TearDown() override {
    if (OurLibvirtd() < 0 || kill(OurLibvirtd(), 0) != 0) StartLibvirtd();
  }

  std::unique_ptr<ServerProcess> server_;
  std::string image_;
};

TEST_F(LibvirtdKillTest, CreateAndStartFailCleanlyAndTheirRetriesSucceed) {
  ServerProcess& server = *server_;
  const std::string containers_dir = server.state_dir() + "/containers";
  const v1::CreateContainerRequest create = RunSandboxForCreate(server, kPod, image_);
  ASSERT_FALSE(HasFailure());

  // CreateContainer, waiting on a stopped libvirtd, which is then killed.
  pid_t libvirtd = OurLibvirtd();
  ASSERT_EQ(kill(libvirtd, SIGSTOP), 0);
  std::future<grpc::Status> creating = std::async(std::launch::async, [&] {
    v1::CreateContainerResponse created;
    return server.runtime().CreateContainer(Context().get(), create, &created);
  });
  WaitFor(
      [&] {
        return DirHasEntries(containers_dir) ||
               creating.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
      },
      kDeadline);
  KillLibvirtd(libvirtd);
  grpc::Status s = creating.get();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("qemu:///system")) << s.error_message();
  std::cout << "CreateContainer with libvirtd killed: " << s.error_code() << " "
            << s.error_message() << "\n";
  EXPECT_THAT(Containers(server, ""), ::testing::IsEmpty());
  EXPECT_FALSE(DirHasEntries(containers_dir)) << "a failed create left its directory";
  ASSERT_EQ(StartLibvirtd(), 0);
  EXPECT_EQ(PodDomains(), "") << "a failed create left its domain";

  // kubelet's retry.
  v1::CreateContainerResponse created;
  s = server.runtime().CreateContainer(Context().get(), create, &created);
  ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << server.log();
  const std::string id = created.container_id();

  // StartContainer, libvirtd killed while it launches QEMU.
  libvirtd = OurLibvirtd();
  std::future<grpc::Status> starting =
      std::async(std::launch::async, [&] { return StartContainer(server, id); });
  WaitFor(
      [&] {
        return !DomainCgroup("cpu", kPod).empty() ||
               starting.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
      },
      kDeadline);
  KillLibvirtd(libvirtd);
  s = starting.get();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  std::cout << "StartContainer with libvirtd killed: " << s.error_code() << " " << s.error_message()
            << "\n";
  std::vector<v1::Container> containers = Containers(server, "");
  ASSERT_EQ(containers.size(), 1u);
  EXPECT_EQ(containers[0].state(), v1::CONTAINER_CREATED);
  ASSERT_EQ(StartLibvirtd(), 0);
  // The restarted libvirtd kills the QEMU it had not finished starting.
  EXPECT_TRUE(WaitFor([&] { return QemuProcesses(kPod) == 0; }, kDeadline));
  containers = Containers(server, "");
  ASSERT_EQ(containers.size(), 1u);
  EXPECT_EQ(containers[0].state(), v1::CONTAINER_CREATED);

  // kubelet's retry.
  s = StartContainer(server, id);
  ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << server.log();
  containers = Containers(server, "");
  ASSERT_EQ(containers.size(), 1u);
  EXPECT_EQ(containers[0].state(), v1::CONTAINER_RUNNING);
  EXPECT_EQ(QemuProcesses(kPod), 1);

  RemovePod(server, Pod{kPod, create.pod_sandbox_id(), id});
  EXPECT_THAT(Sandboxes(server), ::testing::IsEmpty());
  EXPECT_EQ(QemuProcesses(kPod), 0);
  EXPECT_THAT(LeftoverCgroups(kPod), ::testing::IsEmpty());
  EXPECT_EQ(PodDomains(), "");
  EXPECT_FALSE(DirHasEntries(containers_dir));
}

}  // namespace
}  // namespace vmmap::e2e
