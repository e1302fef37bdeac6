// Where the agent socket goes, and the clear error when a state dir is too
// long for a unix socket address.
#include "server/guest/agent_socket.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmap::guest {
namespace {

using ::testing::HasSubstr;

TEST(AgentSocket, ShortNameUnderTheStateDir) {
  absl::StatusOr<std::string> path =
      AgentSocketPath("/var/lib/vmmap", "0123456789abcdef0123456789abcdef");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, "/var/lib/vmmap/agent/0123456789abcdef.sock");
  EXPECT_EQ(AgentSocketDir("/var/lib/vmmap"), "/var/lib/vmmap/agent");
}

TEST(AgentSocket, TooLongStateDirIsFailedPreconditionNamingIt) {
  const std::string state_dir = "/" + std::string(100, 's');
  absl::StatusOr<std::string> path = AgentSocketPath(state_dir, "0123456789abcdef");
  EXPECT_EQ(path.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(path.status().message()), HasSubstr(state_dir));
  EXPECT_THAT(std::string(path.status().message()), HasSubstr("at most 107"));
}

}  // namespace
}  // namespace vmmap::guest
