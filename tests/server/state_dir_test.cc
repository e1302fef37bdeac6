// The state directory: 0711 with its subdirectories, and a start refused,
// naming the fix, when QEMU could not traverse an ancestor.
#include "server/state_dir.h"

#include <sys/stat.h>

#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vmmap {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

class StateDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/vmmap-statedir-XXXXXX";  // 0700, like mktemp -d
    ASSERT_NE(mkdtemp(dir), nullptr);
    parent_ = dir;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(parent_, ec);
  }
  static unsigned Mode(const std::string& path) {
    struct stat st;
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }
  std::string parent_;
};

TEST_F(StateDirTest, AnAncestorQemuCannotTraverseIsRefusedNamingTheFix) {
  const std::string state = parent_ + "/state";
  absl::Status s = PrepareStateDir(state, true);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()),
              AllOf(HasSubstr(parent_ + " (mode 0700)"), HasSubstr("chmod o+x " + parent_)));
  EXPECT_EQ(Mode(parent_), 0700u);  // never loosened behind the operator's back
}

TEST_F(StateDirTest, TheStateDirAndItsRoomsAreTraversableNotListable) {
  ASSERT_EQ(::chmod(parent_.c_str(), 0711), 0);
  const std::string state = parent_ + "/state";
  ASSERT_TRUE(PrepareStateDir(state, true).ok());
  EXPECT_EQ(Mode(state), 0711u);
  EXPECT_EQ(Mode(state + "/containers") & 0077, 0011u);
  EXPECT_EQ(Mode(state + "/images") & 0077, 0011u);
  // Without QEMU (test driver) the ancestors do not matter.
  ASSERT_EQ(::chmod(parent_.c_str(), 0700), 0);
  EXPECT_TRUE(PrepareStateDir(state, false).ok());
}

}  // namespace
}  // namespace vmmap
