// The state directory on a small tmpfs that fills up: CreateContainer fails
// with RESOURCE_EXHAUSTED and a clear message, leaves nothing half-created,
// the database stays readable, and the same call succeeds once space
// returns. Real `vmmap serve` on the embedded driver; no guest is booted.
#include <sys/mount.h>

#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/e2e/harness.h"
#include "tests/fault/fault_checks.h"

namespace vmmap::e2e {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;

TEST(FullStateDirTest, CreateContainerFailsCleanlyAndSucceedsOnceSpaceReturns) {
  const std::string mount_point = GetFixtures().work_dir + "/full";
  fs::create_directories(mount_point);
  if (ShellStatus("mount -t tmpfs -o size=64m,mode=0711 tmpfs " + mount_point) != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (needs CAP_SYS_ADMIN)";
  }
  struct Unmount {
    std::string dir;
    ~Unmount() { umount2(dir.c_str(), MNT_DETACH); }
  } unmount{mount_point};
  const std::string filler = mount_point + "/filler";
  {
    ServerProcess server(mount_point + "/state", ServerOptions{});
    server.Start();
    const std::string image = PullBundle(server);
    v1::RunPodSandboxRequest run;
    *run.mutable_config() = SandboxConfig("full", 1000, 256 << 20, 1);
    v1::RunPodSandboxResponse ran;
    ASSERT_TRUE(server.runtime().RunPodSandbox(Context().get(), run, &ran).ok());

    // Fill the file system to the last block.
    ShellStatus("dd if=/dev/zero of=" + filler + " bs=64k 2>/dev/null");
    v1::CreateContainerRequest create;
    create.set_pod_sandbox_id(ran.pod_sandbox_id());
    *create.mutable_config() = ContainerConfig(image, 1000, 256 << 20, {});
    *create.mutable_sandbox_config() = run.config();
    v1::CreateContainerResponse created;
    grpc::Status full = server.runtime().CreateContainer(Context().get(), create, &created);
    EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << full.error_message();
    std::cout << "CreateContainer on a full state dir: " << full.error_message() << "\n";

    // Nothing half-created; the database still answers.
    EXPECT_FALSE(DirHasEntries(server.state_dir() + "/containers"));
    v1::ListContainersResponse listed;
    ASSERT_TRUE(server.runtime().ListContainers(Context().get(), {}, &listed).ok());
    EXPECT_EQ(listed.containers_size(), 0);

    // Space returns: the retry succeeds, and the pod goes away cleanly.
    fs::remove(filler);
    grpc::Status retried = server.runtime().CreateContainer(Context().get(), create, &created);
    ASSERT_TRUE(retried.ok()) << retried.error_message() << "\n" << server.log();
    RemovePod(server, Pod{"full", ran.pod_sandbox_id(), created.container_id()});
    EXPECT_FALSE(DirHasEntries(server.state_dir() + "/containers"));
  }
}

}  // namespace
}  // namespace vmmap::e2e
