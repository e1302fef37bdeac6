// Recovery of volume views (server/runtime/container_volumes.h) on libvirt's
// test driver: the views of a container without a row (a crash inside
// CreateContainer, or between removing the views and the row) are
// released; a row's views stay. Bind mounts: needs root, skipped otherwise.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "server/volumes/share_views.h"
#include "tests/server/runtime_fixture.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class VolumeRecoveryTest : public RuntimeFixture {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "bind mounts need root (CAP_SYS_ADMIN)";
    RuntimeFixture::SetUp();
    fs::create_directories(dir_ + "/host/cm");
    std::ofstream(dir_ + "/host/cm/key") << "v1\n";
    std::ofstream(dir_ + "/host/etc-hosts") << "127.0.0.1 localhost\n";
  }
  void TearDown() override {
    for (const std::string& id : volumes::ContainersWithViews(dir_)) {
      volumes::ReleaseViews(dir_, id).IgnoreError();
    }
    if (volumes::ContainersWithViews(dir_).empty()) RuntimeFixture::TearDown();
  }
  void MountFor(const std::string& id) {
    SharedDirectory files{"files", "", "/run/vmmap/files", false, SharedFsDriver::kVirtiofs};
    files.files = {{"vol1", dir_ + "/host/etc-hosts", "/etc/hosts", true}};
    absl::StatusOr<volumes::ResolvedShares> r = volumes::ResolveShares(
        {{"vol0", dir_ + "/host/cm", "/etc/config", true, SharedFsDriver::kVirtiofs}, files}, dir_,
        id);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(volumes::MountViews(r->views, dir_, id).ok());
  }
};

TEST_F(VolumeRecoveryTest, ViewsWithoutARowAreReleasedAndARowsViewsKept) {
  SandboxRecord sandbox;
  sandbox.id = "s1";
  ASSERT_TRUE(store_->PutSandbox(sandbox).ok());
  ContainerRecord kept;
  kept.id = "kept";
  kept.sandbox_id = "s1";
  kept.domain_name = "vmmap-ns-never-defined-000000000000";
  ASSERT_TRUE(store_->PutContainer(kept).ok());
  fs::create_directories(dir_ + "/containers/kept");
  MountFor("kept");
  MountFor("orphan");

  ASSERT_TRUE(runtime_->Recover().ok());
  EXPECT_FALSE(fs::exists(dir_ + "/volumes/orphan"));
  EXPECT_TRUE(fs::exists(dir_ + "/volumes/kept/vol0/key"));
  EXPECT_TRUE(fs::exists(dir_ + "/volumes/kept/files/vol1"));
  EXPECT_EQ(Slurp(dir_ + "/volumes/kept/files/vol1"), "127.0.0.1 localhost\n");
  // The orphan's file view went by unmounting; kubelet's file is untouched.
  EXPECT_EQ(Slurp(dir_ + "/host/etc-hosts"), "127.0.0.1 localhost\n");
  EXPECT_EQ(Slurp("/proc/self/mountinfo").find(dir_ + "/volumes/orphan"), std::string::npos);
  EXPECT_EQ(Slurp(dir_ + "/host/cm/key"), "v1\n");  // released by unmounting, never by deleting
}

}  // namespace
}  // namespace vmmap
