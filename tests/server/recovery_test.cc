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

  // A container row as the store holds it (not yet stored).
  static ContainerRecord Row(const std::string& id, const std::string& sandbox_id,
                             const std::string& domain_name,
                             ContainerState state = ContainerState::kCreated) {
    ContainerRecord r;
    r.id = id;
    r.sandbox_id = sandbox_id;
    r.domain_name = domain_name;
    r.state = state;
    return r;
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
  ContainerRecord pending = Row("pending-container", "sandbox-a", pending_domain);
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
  const ContainerRecord committed = Row("committed-container", "sandbox-c", committed_domain);
  ASSERT_TRUE(store_->PutContainer(committed).ok());
  fs::create_directories(dir_ + "/containers/committed-container");

  // A committed RUNNING container whose domain vanished while we were down.
  ASSERT_TRUE(store_->PutSandbox(Sandbox("sandbox-d", 3)).ok());
  const ContainerRecord vanished =
      Row("vanished-container", "sandbox-d", "vmmap-ns-d-000000000000", ContainerState::kRunning);
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

// A pod network that sets up instantly and records what it was asked to undo.
class RecordingNetwork final : public network::PodNetwork {
 public:
  network::NetworkReadiness Readiness() const override { return {true, "", ""}; }
  absl::StatusOr<network::PodNetworkState> SetUp(const network::PodNetworkRequest& r) override {
    return network::PodNetworkState{"/run/netns/vmmap-" + r.sandbox_id, "{}", {"10.0.0.2"}};
  }
  absl::Status TearDown(const network::PodNetworkRequest& r,
                        const network::PodNetworkState&) override {
    torn_down.push_back(r.sandbox_id);
    return absl::OkStatus();
  }
  absl::Status Remove(const network::PodNetworkRequest& r) override {
    removed.push_back(r.sandbox_id);
    return absl::OkStatus();
  }
  absl::StatusOr<network::GuestNic> GuestNicFor(const network::PodNetworkRequest&,
                                                const network::PodNetworkState&,
                                                const std::string&) override {
    return absl::UnimplementedError("no NIC");
  }
  absl::Status PrepareTap(const network::GuestNic&) override { return absl::OkStatus(); }
  absl::Status AttachTap(const network::GuestNic&, const network::PodNetworkState&) override {
    return absl::OkStatus();
  }
  absl::StatusOr<network::InterfaceCounters> Counters(const network::PodNetworkState&) override {
    return absl::UnimplementedError("no counters");
  }
  std::vector<std::string> torn_down, removed;
};

// A RunPodSandbox killed during its network set-up leaves a pending row that
// nothing lists; if recovery could not undo it (its CNI DEL failed), the
// retry must not be AlreadyExists naming that invisible sandbox (found by
// KillLoopTest): the retry undoes it and creates the sandbox.
TEST_F(RecoveryTest, ARetryUndoesASandboxWhoseNetworkSetUpWasAbandoned) {
  RecordingNetwork net;
  PodRuntime runtime(RuntimeOptions{dir_, NodeConfig(), &net, CgroupRoot()}, hypervisor_.get(),
                     store_.get(), images_.get());
  SandboxRecord abandoned;
  abandoned.id = std::string(64, 'a');
  abandoned.config.metadata = {"pod", "uid-1", "ns", 0};
  abandoned.network.pending = true;
  ASSERT_TRUE(store_->PutSandbox(abandoned).ok());

  absl::StatusOr<std::string> retry = runtime.RunPodSandbox(abandoned.config);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_NE(*retry, abandoned.id);
  EXPECT_THAT(net.torn_down, ::testing::ElementsAre(abandoned.id));
  EXPECT_THAT(net.removed, ::testing::ElementsAre(abandoned.id));
  EXPECT_TRUE(absl::IsNotFound(store_->GetSandbox(abandoned.id).status()));
  absl::StatusOr<std::vector<SandboxRecord>> listed = runtime.ListPodSandbox(SandboxFilter());
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, *retry);
  // A sandbox that was set up is still reserved.
  EXPECT_TRUE(absl::IsAlreadyExists(runtime.RunPodSandbox(abandoned.config).status()));
}

TEST_F(RecoveryTest, AStoreErrorStopsRecoveryBeforeItTouchesAnything) {
  ASSERT_TRUE(store_->PutSandbox(Sandbox("sandbox-e", 1)).ok());
  const std::string domain = DefineOwned("e", "committed-e");
  const ContainerRecord committed = Row("committed-e", "sandbox-e", domain);
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

// Issue 8, finding 3: libvirt leaves a domain's cgroup directories when the
// domain ended while vmmap (and its embedded libvirt) was down.
TEST_F(RecoveryTest, RemovesTheCgroupsLibvirtLeftForDomainsThatEnded) {
  ASSERT_TRUE(store_->PutSandbox(Sandbox("sandbox-v", 1)).ok());
  const ContainerRecord vanished =
      Row("vanished", "sandbox-v", "vmmap-ns-v-0123456789ab", ContainerState::kRunning);
  ASSERT_TRUE(store_->PutContainer(vanished).ok());
  ASSERT_TRUE(store_->PutSandbox(Sandbox("sandbox-r", 2)).ok());
  const ContainerRecord running =
      Row("running", "sandbox-r", DefineOwned("r", "running"), ContainerState::kRunning);
  ASSERT_TRUE(hypervisor_->StartDomain(running.domain_name).ok());
  ASSERT_TRUE(store_->PutContainer(running).ok());
  const std::string orphan = DefineOwned("o", "orphan");

  const fs::path cpu = fs::path(CgroupRoot()) / "cpu,cpuacct" / "vmmap.partition";
  const fs::path unified = fs::path(CgroupRoot()) / "unified" / "vmmap.partition";
  const fs::path left = cpu / ("qemu-embed-1a2b3c4d-7-" + vanished.domain_name + ".libvirt-qemu");
  const fs::path left_v2 = unified / ("qemu-7-" + vanished.domain_name + ".libvirt-qemu");
  const fs::path orphans = cpu / ("qemu-embed-1a2b3c4d-9-" + orphan + ".libvirt-qemu");
  const fs::path in_use = cpu / ("qemu-embed-1a2b3c4d-8-" + running.domain_name + ".libvirt-qemu");
  const fs::path foreign = cpu / "qemu-3-someone-elses-vm.libvirt-qemu";
  for (const fs::path& p : {left / "vcpu0", left / "emulator", left_v2, orphans / "emulator",
                            in_use / "vcpu0", foreign}) {
    fs::create_directories(p);
  }
  fs::create_directory_symlink("cpu,cpuacct", fs::path(CgroupRoot()) / "cpu");

  ASSERT_TRUE(runtime_->Recover().ok());
  EXPECT_FALSE(fs::exists(left));
  EXPECT_FALSE(fs::exists(left_v2));
  EXPECT_FALSE(fs::exists(orphans));
  EXPECT_TRUE(fs::exists(in_use / "vcpu0"));  // its domain runs
  EXPECT_TRUE(fs::exists(foreign));           // not a vmmap domain's

  // RemoveContainer removes what libvirt leaves once the domain is gone.
  fs::create_directories(in_use / "vcpu0");
  ASSERT_TRUE(runtime_->RemoveContainer(running.id).ok());
  EXPECT_FALSE(fs::exists(in_use));
  EXPECT_TRUE(fs::exists(foreign));
}

TEST_F(RecoveryTest, RemoveContainerDeletesTheDomainsQemuLogLibvirtKeeps) {
  RuntimeOptions options{dir_, NodeConfig(), nullptr, CgroupRoot()};
  options.domain_log_dir = dir_ + "/libvirt/log/qemu";
  PodRuntime runtime(options, hypervisor_.get(), store_.get(), images_.get());
  ASSERT_TRUE(store_->PutSandbox(Sandbox("sandbox-l", 1)).ok());
  const ContainerRecord c =
      Row("logged", "sandbox-l", DefineOwned("l", "logged"), ContainerState::kExited);
  ASSERT_TRUE(store_->PutContainer(c).ok());
  fs::create_directories(options.domain_log_dir);
  const std::string log = options.domain_log_dir + "/" + c.domain_name + ".log";
  const std::string other = options.domain_log_dir + "/someone-elses-vm.log";
  std::ofstream(log) << "qemu-system-x86_64: terminating on signal 15\n";
  std::ofstream(other) << "x";
  ASSERT_TRUE(runtime.RemoveContainer(c.id).ok());
  EXPECT_FALSE(fs::exists(log));
  EXPECT_TRUE(fs::exists(other));
  EXPECT_TRUE(runtime.RemoveContainer(c.id).ok());  // idempotent
}

}  // namespace
}  // namespace vmmap
