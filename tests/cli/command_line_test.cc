#include "cli/command_line.h"

#include <gtest/gtest.h>

namespace vmmap {
namespace {

TEST(CommandLineTest, SplitsFlagsSwitchesAndPositionals) {
  auto args = SplitCommandLine({"--a=1", "--b", "2", "--explain", "file", "-h"}, {"--explain"});
  ASSERT_TRUE(args.ok());
  ASSERT_EQ(args->size(), 5u);
  EXPECT_EQ((*args)[0].flag, "--a");
  EXPECT_EQ((*args)[0].value, "1");
  EXPECT_EQ((*args)[1].value, "2");
  EXPECT_EQ((*args)[2].flag, "--explain");
  EXPECT_EQ((*args)[3].flag, "");
  EXPECT_EQ((*args)[3].value, "file");
  EXPECT_EQ((*args)[4].flag, "--help");
  EXPECT_EQ(SplitCommandLine({"--socket"}, {}).status().message(), "--socket needs a value");
}

}  // namespace
}  // namespace vmmap
