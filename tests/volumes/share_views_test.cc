// vmmap's views of kubelet's volumes (server/volumes/share_views.h) on a
// temporary tree: real bind mounts, so the test needs CAP_SYS_ADMIN (root);
// without it each test says so and is skipped. The classification of host
// paths (server/volumes/host_paths.h) needs no privileges.
#include "server/volumes/share_views.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/volumes/host_paths.h"

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
    std::ofstream(host_ + "/termination-log");
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

  std::vector<SharedDirectory> WithFiles() {
    std::vector<SharedDirectory> planned = Planned();
    SharedDirectory files{"files", "", "/run/vmmap/files", false, SharedFsDriver::kVirtiofs};
    files.files = {{"vol2", host_ + "/hosts", "/etc/hosts", true},
                   {"vol3", host_ + "/termination-log", "/dev/termination-log", false}};
    planned.push_back(std::move(files));
    return planned;
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
  EXPECT_FALSE(fs::exists(state_ + "/volumes"));  // resolving creates nothing
}

TEST_F(ShareViewsTest, AMissingHostPathIsInvalidArgumentNamingTheMount) {
  std::vector<SharedDirectory> planned = Planned();
  planned[1].source_dir = host_ + "/nope";
  absl::Status s = ResolveShares(planned, state_, "c1").status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("mounts[1].host_path \"" + host_ + "/nope\""));
}

// Kubelet's /etc/hosts (read-only) and termination log (read-write).
TEST_F(ShareViewsTest, FileMountsAreBoundOntoPlaceholdersOfTheFilesDirectory) {
  absl::StatusOr<ResolvedShares> r = ResolveShares(WithFiles(), state_, "c1");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->shares.size(), 3u);
  const std::string files = state_ + "/volumes/c1/files";
  EXPECT_EQ(r->shares[2].source_dir, files);
  EXPECT_EQ(r->shares[2].files[0].source_file, files + "/vol2");
  ASSERT_EQ(r->views.size(), 4u);
  EXPECT_TRUE(r->views[2].file);
  EXPECT_EQ(r->views[2].host_path, host_ + "/hosts");
  ASSERT_TRUE(MountViews(r->views, state_, "c1").ok());

  EXPECT_EQ(Slurp(files + "/vol2"), "127.0.0.1 localhost\n");
  EXPECT_NE(access((files + "/vol2").c_str(), W_OK), 0);
  EXPECT_EQ(errno, EROFS);
  std::ofstream(files + "/vol3") << "exit 3\n";
  EXPECT_EQ(Slurp(host_ + "/termination-log"), "exit 3\n");
  // The directory itself is read-only: nothing can be added or removed
  // (what removal could not tell from a placeholder).
  std::ofstream(files + "/extra") << "x";
  EXPECT_FALSE(fs::exists(files + "/extra"));
  EXPECT_NE(unlink((files + "/vol3").c_str()), 0);
  struct stat st;
  ASSERT_EQ(stat(files.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);  // QEMU's 9p server is not root
}

TEST_F(ShareViewsTest, ReleaseLeavesTheHostsFilesAndNothingElse) {
  absl::StatusOr<ResolvedShares> r = ResolveShares(WithFiles(), state_, "c1");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(MountViews(r->views, state_, "c1").ok());
  std::ofstream(state_ + "/volumes/c1/files/vol3") << "done\n";
  ASSERT_TRUE(ReleaseViews(state_, "c1").ok());
  EXPECT_FALSE(fs::exists(state_ + "/volumes/c1"));
  EXPECT_EQ(Slurp("/proc/self/mountinfo").find(state_), std::string::npos);
  EXPECT_EQ(Slurp(host_ + "/hosts"), "127.0.0.1 localhost\n");
  EXPECT_EQ(Slurp(host_ + "/termination-log"), "done\n");
  EXPECT_TRUE(ReleaseViews(state_, "c1").ok());  // idempotent
}

// A live resize re-plans from the stored mounts, which do not keep their
// kind: the views say which ones the domain shares as files.
TEST_F(ShareViewsTest, TheViewsTellWhichStoredMountsAreFiles) {
  absl::StatusOr<ResolvedShares> r = ResolveShares(WithFiles(), state_, "c1");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(MountViews(r->views, state_, "c1").ok());
  std::vector<VolumeMount> mounts(4);
  MarkSharedFiles(state_, "c1", mounts);
  EXPECT_EQ(mounts[0].host_kind, HostPathKind::kDirectory);
  EXPECT_EQ(mounts[1].host_kind, HostPathKind::kDirectory);
  EXPECT_EQ(mounts[2].host_kind, HostPathKind::kFile);
  EXPECT_EQ(mounts[3].host_kind, HostPathKind::kFile);
}

TEST_F(ShareViewsTest, AFileThatBecameADirectoryIsRefusedNamingTheMount) {
  std::vector<SharedDirectory> planned = WithFiles();
  planned[2].files[1].source_file = host_ + "/empty";
  absl::Status s = ResolveShares(planned, state_, "c1").status();
  EXPECT_TRUE(absl::IsAborted(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("mounts[3].host_path"));
  planned = Planned();
  planned[0].source_dir = host_ + "/hosts";
  s = ResolveShares(planned, state_, "c1").status();
  EXPECT_TRUE(absl::IsAborted(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("mounts[0].host_path"));
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

TEST_F(ShareViewsTest, AFailedFileMountReleasesEverythingMadeSoFar) {
  absl::StatusOr<ResolvedShares> r = ResolveShares(WithFiles(), state_, "c1");
  ASSERT_TRUE(r.ok());
  std::vector<ShareView> views = r->views;
  views[3].host_path = host_ + "/vanished";
  EXPECT_FALSE(MountViews(views, state_, "c1").ok());
  EXPECT_FALSE(fs::exists(state_ + "/volumes/c1"));
  EXPECT_EQ(Slurp("/proc/self/mountinfo").find(state_), std::string::npos);
}

// Classification needs no privileges: a plain temporary tree.
class HostPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmmap-host-paths-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    fs::create_directories(root_ + "/dir");
    std::ofstream(root_ + "/file") << "x";
    fs::create_symlink(root_ + "/file", root_ + "/link");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  VolumeMount At(const std::string& host) {
    VolumeMount m;
    m.container_path = "/x";
    m.host_path = host;
    return m;
  }
  std::string root_;
};

TEST_F(HostPathsTest, DirectoriesAndRegularFilesAreClassifiedThroughSymlinks) {
  std::vector<VolumeMount> mounts = {At(root_ + "/dir"), At(root_ + "/file"), At(root_ + "/link")};
  mounts[0].host_kind = HostPathKind::kFile;  // overwritten from the host
  ASSERT_TRUE(ClassifyHostPaths(mounts).ok());
  EXPECT_EQ(mounts[0].host_kind, HostPathKind::kDirectory);
  EXPECT_EQ(mounts[1].host_kind, HostPathKind::kFile);
  EXPECT_EQ(mounts[2].host_kind, HostPathKind::kFile);
}

TEST_F(HostPathsTest, SocketsFifosAndMissingPathsAreRefusedNamingTheMount) {
  const std::string fifo = root_ + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const std::string sock = root_ + "/sock";
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr), 0);
  close(fd);
  struct Case {
    std::string path, want;
  } cases[] = {
      {fifo, "mounts[1].host_path \"" + fifo + "\": is a fifo"},
      {sock, "mounts[1].host_path \"" + sock + "\": is a socket"},
      {root_ + "/nope", "mounts[1].host_path \"" + root_ + "/nope\": No such file"},
      {"relative", "mounts[1].host_path \"relative\": must be an absolute path"},
  };
  for (const Case& c : cases) {
    std::vector<VolumeMount> mounts = {At(root_ + "/dir"), At(c.path)};
    absl::Status s = ClassifyHostPaths(mounts);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.want));
  }
}

}  // namespace
}  // namespace vmmap::volumes
