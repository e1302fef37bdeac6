// server/base: errno mapping, file helpers, log levels.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/base/errno_status.h"
#include "server/base/files.h"
#include "server/base/log.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/vmmap-base-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string dir_;
};

TEST(ErrnoToStatusTest, CodesFollowAbseilMeaningsAndNameTheObject) {
  EXPECT_EQ(ErrnoToStatus(ENOENT, "open x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoToStatus(EACCES, "open x").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoToStatus(ENOSPC, "write x").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoToStatus(EEXIST, "mkdir x").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrnoToStatus(EIO, "read x").code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(ErrnoToStatus(ENOENT, "open /a/b").message()),
              ::testing::StartsWith("open /a/b: No such file"));
}

TEST_F(FilesTest, AtomicWriteReplacesContentWithTheGivenModeAndLeavesNoTemporary) {
  const std::string path = dir_ + "/f";
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  ASSERT_TRUE(WriteFileAtomically(path, std::string("new\0x", 5), 0640).ok());
  absl::StatusOr<std::string> read = ReadFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, std::string("new\0x", 5));
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir_)) entries += e.path().empty() ? 0 : 1;
  EXPECT_EQ(entries, 1);
}

TEST_F(FilesTest, ReadRefusesSymlinksAndOversizedFiles) {
  std::ofstream(dir_ + "/big") << std::string(100, 'x');
  EXPECT_EQ(ReadFile(dir_ + "/big", 99).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(ReadFile(dir_ + "/big", 100).ok());
  fs::create_symlink(dir_ + "/big", dir_ + "/link");
  EXPECT_EQ(ReadFile(dir_ + "/link").status().code(), absl::StatusCode::kInvalidArgument);
  absl::Status missing = ReadFile(dir_ + "/missing").status();
  EXPECT_TRUE(absl::IsNotFound(missing));
  EXPECT_THAT(std::string(missing.message()), ::testing::HasSubstr(dir_ + "/missing"));
}

TEST_F(FilesTest, MakeDirectoriesCreatesThePathWithTheModeAndIsIdempotent) {
  const std::string path = dir_ + "/a/b/c";
  ASSERT_TRUE(MakeDirectories(path, 0750).ok());
  ASSERT_TRUE(MakeDirectories(path, 0750).ok());
  struct stat st;
  ASSERT_EQ(::stat((dir_ + "/a/b").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0750u & ~static_cast<unsigned>(::umask(::umask(0))));
  std::ofstream(dir_ + "/file") << "x";
  EXPECT_EQ(MakeDirectories(dir_ + "/file/sub").code(), absl::StatusCode::kFailedPrecondition);
}

TEST(LogTest, LevelsParseAndFilter) {
  EXPECT_EQ(*ParseLogLevel("debug"), LogLevel::kDebug);
  absl::StatusOr<LogLevel> bad = ParseLogLevel("loud");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), ::testing::HasSubstr("loud"));
  SetLogLevel(LogLevel::kWarning);
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  int formatted = 0;
  auto count = [&formatted] { return ++formatted; };
  VMMAP_LOG(kDebug, "not formatted ", count());
  EXPECT_EQ(formatted, 0);  // arguments of a disabled level are never evaluated
  SetLogLevel(LogLevel::kInfo);
}

}  // namespace
}  // namespace vmmap
