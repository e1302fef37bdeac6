// Recovery after a crash, on libvirt's test driver: what a kill -9 at each
// step of CreateContainer can leave behind is rolled back, and domains that
// are not vmmap's are never touched.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <sqlite3.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mapper/domain_xml.h"
#include "mapper/planner.h"
#include "tests/server/runtime_fixture.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;

class RecoveryTest : public RuntimeFixture {
 protected:
  // Defines a vmmap domain owned by `container_id`, as CreateContainer would.
  std::string DefineOwned(const std::string& pod, const std::string& container_id) {
    PodSandboxInput in;
    in.identity = {pod, "ns", "uid-" + pod, 0};
    absl::StatusOr<DomainPlan> plan = PlanDomain(in, NodeConfig());
    EXPECT_TRUE(plan.ok());
    plan->spec.owner.sandbox_id = "sandbox-" + pod;
    plan->spec.owner.container_id = container_id;
    absl::StatusOr<std::string> xml = RenderDomainXml(plan->spec);
    EXPECT_TRUE(hypervisor_->DefineDomain(*xml).ok());
    return plan->spec.name;
  }

  static SandboxRecord Sandbox(const std::string& id, int64_t created_at_ns) {
    SandboxRecord r;
    r.id = id;
    r.created_at_ns = created_at_ns;
    return r;
  }
};

TEST_F(RecoveryTest, RollsBackPendingRemovesOrphansKeepsCommittedAndForeign) {
  ASSERT_TRUE(store_->PutSandbox(Sandbox("sandbox-a", 1)).ok());
  // Crash after define, before commit: a pending row, its domain and files.
  const std::string pending_domain = DefineOwned("a", "pending-container");
  ContainerRecord pending;
  pending.id = "pending-container";
  pending.sandbox_id = "sandbox-a";
  pending.domain_name = pending_domain;
  pending.pending = true;
  ASSERT_TRUE(store_->PutContainer(pending).ok());
  fs::create_directories(dir_ + "/containers/pending-container");
  std::ofstream(dir_ + "/containers/pending-container/disk.qcow2") << "x";

  // A vmmap domain whose row never made it (or was deleted): an orphan.
  const std::string orphan_domain = DefineOwned("b", "unknown-container");
  fs::create_directories(dir_ + "/containers/unknown-container");

  // A committed container whose domain is defined: kept as it is.
  ASSERT_TRUE(store_->PutSandbox(Sandbox("sandbox-c", 2)).ok());
  const std::string committed_domain = DefineOwned("c", "committed-container");
  ContainerRecord committed;
  committed.id = "committed-container";
  committed.sandbox_id = "sandbox-c";
  committed.domain_name = committed_domain;
  ASSERT_TRUE(store_->PutContainer(committed).ok());
  fs::create_directories(dir_ + "/containers/committed-container");

  // A committed RUNNING container whose domain vanished while we were down.
  ASSERT_TRUE(store_->PutSandbox(Sandbox("sandbox-d", 3)).ok());
  ContainerRecord vanished;
  vanished.id = "vanished-container";
  vanished.sandbox_id = "sandbox-d";
  vanished.domain_name = "vmmap-ns-d-000000000000";
  vanished.state = ContainerState::kRunning;
  ASSERT_TRUE(store_->PutContainer(vanished).ok());

  ASSERT_TRUE(runtime_->Recover().ok());

  EXPECT_FALSE(DomainExists(pending_domain));
  EXPECT_TRUE(absl::IsNotFound(store_->GetContainer("pending-container").status()));
  EXPECT_FALSE(fs::exists(dir_ + "/containers/pending-container"));
  EXPECT_FALSE(DomainExists(orphan_domain));
  EXPECT_FALSE(fs::exists(dir_ + "/containers/unknown-container"));
  EXPECT_TRUE(DomainExists(committed_domain));
  EXPECT_TRUE(store_->GetContainer("committed-container").ok());
  EXPECT_TRUE(fs::exists(dir_ + "/containers/committed-container"));
  absl::StatusOr<ContainerRecord> gone = store_->GetContainer("vanished-container");
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->state, ContainerState::kExited);
  EXPECT_EQ(gone->reason, "DomainVanished");
  // The test driver's own domain is not vmmap's and is never touched.
  EXPECT_TRUE(DomainExists("test"));
}

TEST_F(RecoveryTest, UnknownIdsAndIdempotentRemoval) {
  EXPECT_TRUE(absl::IsNotFound(runtime_->StartContainer("nope")));
  EXPECT_TRUE(absl::IsNotFound(runtime_->StopContainer("nope", 1)));
  EXPECT_TRUE(runtime_->RemoveContainer("nope").ok());
  EXPECT_TRUE(runtime_->RemovePodSandbox("nope").ok());
  EXPECT_TRUE(absl::IsNotFound(runtime_->PodSandboxStatus("nope").status()));
}

TEST_F(RecoveryTest, RunPodSandboxRejectsImpossiblePodsWithTheFieldNamed) {
  SandboxConfig config;
  config.metadata.name = "p";
  config.metadata.namespace_name = "ns";
  config.annotations["vmmap.io/vcpus"] = "many";
  absl::StatusOr<std::string> id = runtime_->RunPodSandbox(config);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(id.status().message()), ::testing::HasSubstr("vmmap.io/vcpus"));
  auto listed = runtime_->ListPodSandbox(SandboxFilter());
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());  // nothing half-created
}

TEST_F(RecoveryTest, SameSandboxMetadataIsReservedUntilTheSandboxIsRemoved) {
  SandboxConfig config;
  config.metadata = {"pod", "uid-1", "ns", 0};
  absl::StatusOr<std::string> first = runtime_->RunPodSandbox(config);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::string> retry = runtime_->RunPodSandbox(config);
  EXPECT_EQ(retry.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(retry.status().message()), ::testing::HasSubstr(*first));
  // Another attempt is another sandbox.
  SandboxConfig next = config;
  next.metadata.attempt = 1;
  EXPECT_TRUE(runtime_->RunPodSandbox(next).ok());
  ASSERT_TRUE(runtime_->RemovePodSandbox(*first).ok());
  EXPECT_TRUE(runtime_->RunPodSandbox(config).ok());
  EXPECT_EQ(runtime_->locks_in_use(), 0u);
}

TEST_F(RecoveryTest, ConcurrentRetriesOfOneSandboxCreateExactlyOne) {
  SandboxConfig config;
  config.metadata = {"racy", "uid-2", "ns", 0};
  std::atomic<int> created{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      absl::StatusOr<std::string> id = runtime_->RunPodSandbox(config);
      if (id.ok()) ++created;
      if (absl::IsAlreadyExists(id.status())) ++refused;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(refused.load(), 7);
  absl::StatusOr<std::vector<SandboxRecord>> all = runtime_->ListPodSandbox(SandboxFilter());
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
}

TEST_F(RecoveryTest, AStoreErrorStopsRecoveryBeforeItTouchesAnything) {
  ASSERT_TRUE(store_->PutSandbox(Sandbox("sandbox-e", 1)).ok());
  const std::string domain = DefineOwned("e", "committed-e");
  ContainerRecord committed;
  committed.id = "committed-e";
  committed.sandbox_id = "sandbox-e";
  committed.domain_name = domain;
  ASSERT_TRUE(store_->PutContainer(committed).ok());
  fs::create_directories(dir_ + "/containers/committed-e");
  // Its row no longer decodes: a listing would come back short if errors
  // were skipped, and the domain would look orphaned.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/state.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE container SET command = X'39393a' WHERE name = X''", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);

  absl::Status recovered = runtime_->Recover();
  EXPECT_EQ(recovered.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(recovered.message()),
              ::testing::AllOf(::testing::HasSubstr("recovery stopped"),
                               ::testing::HasSubstr("committed-e")));
  EXPECT_TRUE(DomainExists(domain));
  EXPECT_TRUE(fs::exists(dir_ + "/containers/committed-e"));
}

}  // namespace
}  // namespace vmmap
