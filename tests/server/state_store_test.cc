#include "server/state/state_store.h"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

namespace vmmap {
namespace {

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/vmmap-state-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(StateStoreTest, RowsSurviveReopenAndSandboxDeletionCascades) {
  {
    auto store = StateStore::Open(dir_ + "/state.db");
    ASSERT_TRUE(store.ok()) << store.status();
    SandboxRecord sandbox;
    sandbox.id = "s1";
    sandbox.config.labels["k"] = std::string("v\0bytes", 7);
    sandbox.config.runtime_handler = "vmmap";
    sandbox.created_at_ns = 42;
    ASSERT_TRUE((*store)->PutSandbox(sandbox).ok());
    ContainerRecord container;
    container.id = "c1";
    container.sandbox_id = "s1";
    container.domain_name = "vmmap-x";
    container.pending = true;
    container.exit_code = -7;
    ASSERT_TRUE((*store)->PutContainer(container).ok());
  }
  auto store = StateStore::Open(dir_ + "/state.db");
  ASSERT_TRUE(store.ok());
  absl::StatusOr<SandboxRecord> sandbox = (*store)->GetSandbox("s1");
  ASSERT_TRUE(sandbox.ok());
  EXPECT_EQ(sandbox->config.labels["k"], std::string("v\0bytes", 7));  // blobs keep NULs
  EXPECT_EQ(sandbox->created_at_ns, 42);
  absl::StatusOr<ContainerRecord> container = (*store)->GetContainer("c1");
  ASSERT_TRUE(container.ok());
  EXPECT_TRUE(container->pending);
  EXPECT_EQ(container->exit_code, -7);

  ASSERT_TRUE((*store)->DeleteSandbox("s1").ok());
  EXPECT_TRUE(absl::IsNotFound((*store)->GetContainer("c1").status()));
  EXPECT_TRUE(absl::IsNotFound((*store)->GetSandbox("s1").status()));
}

TEST_F(StateStoreTest, DatabaseIsNotWorldReadable) {
  auto store = StateStore::Open(dir_ + "/state.db");
  ASSERT_TRUE(store.ok());
  const auto perms = std::filesystem::status(dir_ + "/state.db").permissions();
  EXPECT_EQ(perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
            std::filesystem::perms::none);
}

TEST_F(StateStoreTest, UnknownIdsAreNotFoundAndPutReplaces) {
  auto store = StateStore::Open(dir_ + "/state.db");
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE(absl::IsNotFound((*store)->GetSandbox("nope").status()));
  SandboxRecord sandbox;
  sandbox.id = "s1";
  sandbox.created_at_ns = 1;
  ASSERT_TRUE((*store)->PutSandbox(sandbox).ok());
  sandbox.state = SandboxState::kNotReady;
  ASSERT_TRUE((*store)->PutSandbox(sandbox).ok());
  auto all = (*store)->ListSandboxes();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].state, SandboxState::kNotReady);
}

TEST_F(StateStoreTest, UnopenablePathIsUnavailable) {
  auto store = StateStore::Open(dir_ + "/missing-dir/state.db");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace vmmap
