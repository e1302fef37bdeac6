// vmmap's views of kubelet's volumes (server/volumes/share_views.h) on a
// temporary tree: real bind mounts, so the test needs CAP_SYS_ADMIN (root);
// without it each test says so and is skipped.
#include "server/volumes/share_views.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vmmap::volumes {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class ShareViewsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "bind mounts need root (CAP_SYS_ADMIN)";
    char tmpl[] = "/tmp/vmmap-views-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    state_ = root_ + "/state";
    host_ = root_ + "/kubelet";
    fs::create_directories(state_);
    fs::create_directories(host_ + "/cm");
    fs::create_directories(host_ + "/empty");
    std::ofstream(host_ + "/cm/key") << "v1\n";
    std::ofstream(host_ + "/hosts") << "127.0.0.1 localhost\n";
  }
  void TearDown() override {
    if (root_.empty()) return;
    ReleaseViews(state_, "c1").IgnoreError();
    std::error_code ec;
    // Only after the views are gone: never recurse into a mounted view.
    if (ContainersWithViews(state_).empty()) fs::remove_all(root_, ec);
  }

  std::vector<SharedDirectory> Planned() {
    return {{"vol0", host_ + "/cm", "/etc/config", true, SharedFsDriver::kVirtiofs},
            {"vol1", host_ + "/empty", "/data", false, SharedFsDriver::kVirtiofs}};
  }

  std::string root_, state_, host_;
};

TEST_F(ShareViewsTest, SharesPointAtTheContainersViews) {
  absl::StatusOr<ResolvedShares> r = ResolveShares(Planned(), state_, "c1");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->shares.size(), 2u);
  EXPECT_EQ(r->shares[0].source_dir, state_ + "/volumes/c1/vol0");
  EXPECT_EQ(r->views[0].host_path, host_ + "/cm");
  EXPECT_TRUE(r->views[0].read_only);
  EXPECT_TRUE(r->skipped.empty());
  EXPECT_FALSE(fs::exists(state_ + "/volumes"));  // resolving creates nothing
}

TEST_F(ShareViewsTest, AMissingHostPathIsInvalidArgumentNamingTheMount) {
  std::vector<SharedDirectory> planned = Planned();
  planned[1].source_dir = host_ + "/nope";
  absl::Status s = ResolveShares(planned, state_, "c1").status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("mounts[1].host_path \"" + host_ + "/nope\""));
}

TEST_F(ShareViewsTest, AFileMountIsSkippedAndSaysWhy) {
  std::vector<SharedDirectory> planned = Planned();
  planned.push_back({"vol2", host_ + "/hosts", "/etc/hosts", false, SharedFsDriver::kVirtiofs});
  absl::StatusOr<ResolvedShares> r = ResolveShares(planned, state_, "c1");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->shares.size(), 2u);
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_THAT(r->skipped[0], HasSubstr("mounts[2]"));
  EXPECT_THAT(r->skipped[0], HasSubstr("not a directory"));
}

TEST_F(ShareViewsTest, ReadOnlyViewsRefuseWritesAndWritableViewsReachTheHost) {
  absl::StatusOr<ResolvedShares> r = ResolveShares(Planned(), state_, "c1");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(MountViews(r->views, state_, "c1").ok());
  const std::string ro = state_ + "/volumes/c1/vol0";
  EXPECT_EQ(Slurp(ro + "/key"), "v1\n");
  std::ofstream(ro + "/new") << "x";
  EXPECT_FALSE(fs::exists(host_ + "/cm/new"));
  EXPECT_NE(access(ro.c_str(), W_OK), 0);
  EXPECT_EQ(errno, EROFS);
  // The host still writes; the view shows it at once.
  std::ofstream(host_ + "/cm/key") << "v2\n";
  EXPECT_EQ(Slurp(ro + "/key"), "v2\n");
  std::ofstream(state_ + "/volumes/c1/vol1/out") << "hi\n";
  EXPECT_EQ(Slurp(host_ + "/empty/out"), "hi\n");
  EXPECT_EQ(ContainersWithViews(state_), std::vector<std::string>{"c1"});
}

TEST_F(ShareViewsTest, ReleaseUnmountsAndRemovesTheViewsButNeverTheHostsData) {
  absl::StatusOr<ResolvedShares> r = ResolveShares(Planned(), state_, "c1");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(MountViews(r->views, state_, "c1").ok());
  std::ofstream(host_ + "/empty/keep") << "data\n";
  ASSERT_TRUE(ReleaseViews(state_, "c1").ok());
  EXPECT_FALSE(fs::exists(state_ + "/volumes/c1"));
  EXPECT_EQ(Slurp(host_ + "/empty/keep"), "data\n");
  EXPECT_EQ(Slurp(host_ + "/cm/key"), "v1\n");
  EXPECT_EQ(Slurp("/proc/self/mountinfo").find(state_), std::string::npos);
  EXPECT_TRUE(ReleaseViews(state_, "c1").ok());  // idempotent
  EXPECT_TRUE(ContainersWithViews(state_).empty());
}

TEST_F(ShareViewsTest, AFailedMountReleasesTheViewsMadeSoFar) {
  absl::StatusOr<ResolvedShares> r = ResolveShares(Planned(), state_, "c1");
  ASSERT_TRUE(r.ok());
  std::vector<ShareView> views = r->views;
  views[1].host_path = host_ + "/vanished";  // gone between resolve and mount
  absl::Status s = MountViews(views, state_, "c1");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr(host_ + "/vanished"));
  EXPECT_FALSE(fs::exists(state_ + "/volumes/c1"));
  EXPECT_EQ(Slurp("/proc/self/mountinfo").find(state_), std::string::npos);
}

}  // namespace
}  // namespace vmmap::volumes
