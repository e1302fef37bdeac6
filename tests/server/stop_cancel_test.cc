// StopContainer stops waiting for the guest when its caller goes away, and
// leaves the container as it is (still RUNNING, to be stopped again).
//
// libvirt's test driver powers a domain off the instant it is asked to; a
// guest that ignores the ACPI power button is modelled by a Hypervisor that
// forwards everything to the test driver except ShutdownDomain, which it
// accepts and ignores (what such a guest does).
#include <atomic>
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mapper/domain_xml.h"
#include "mapper/planner.h"
#include "server/runtime/pod_runtime.h"
#include "server/virt/libvirt_hypervisor.h"
#include "tests/harness/forwarding_hypervisor.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;

class GuestIgnoresAcpi final : public ForwardingHypervisor {
 public:
  using ForwardingHypervisor::ForwardingHypervisor;
  absl::Status ShutdownDomain(std::string_view) override { return absl::OkStatus(); }
};

TEST(StopCancelTest, StopStopsWaitingWhenTheCallerGoesAwayAndKeepsTheContainer) {
  char dir[] = "/tmp/vmmap-stop-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string root = dir;
  auto libvirt = virt::LibvirtHypervisor::Open("test:///default");
  ASSERT_TRUE(libvirt.ok()) << libvirt.status();
  GuestIgnoresAcpi hypervisor(libvirt->get());
  auto store = StateStore::Open(root + "/state.db");
  ASSERT_TRUE(store.ok());
  auto images = ImageStore::Open(root + "/images");
  ASSERT_TRUE(images.ok()) << images.status();
  PodRuntime runtime(RuntimeOptions{root, NodeConfig()}, &hypervisor, store->get(), images->get());

  PodSandboxInput in;
  in.identity = {"stubborn", "ns", "uid-stubborn", 0};
  absl::StatusOr<DomainPlan> plan = PlanDomain(in, NodeConfig());
  ASSERT_TRUE(plan.ok());
  absl::StatusOr<std::string> xml = RenderDomainXml(plan->spec);
  ASSERT_TRUE(xml.ok());
  ASSERT_TRUE(hypervisor.DefineDomain(*xml).ok());
  ASSERT_TRUE(hypervisor.StartDomain(plan->spec.name).ok());
  SandboxRecord sandbox;
  sandbox.id = "s";
  ASSERT_TRUE((*store)->PutSandbox(sandbox).ok());
  ContainerRecord c;
  c.id = "c";
  c.sandbox_id = "s";
  c.domain_name = plan->spec.name;
  c.state = ContainerState::kRunning;
  ASSERT_TRUE((*store)->PutContainer(c).ok());

  // The caller leaves after a few polls of a 10-minute grace period.
  std::atomic<int> polls{0};
  absl::Status stopped = runtime.StopContainer("c", 600, [&polls] { return ++polls > 3; });
  EXPECT_EQ(stopped.code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(std::string(stopped.message()), ::testing::HasSubstr("still running"));
  absl::StatusOr<ContainerRecord> still = (*store)->GetContainer("c");
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->state, ContainerState::kRunning);
  EXPECT_EQ(runtime.locks_in_use(), 0u);

  // Stopping again without a grace period kills it.
  ASSERT_TRUE(runtime.StopContainer("c", 0).ok());
  absl::StatusOr<ContainerRecord> killed = (*store)->GetContainer("c");
  ASSERT_TRUE(killed.ok());
  EXPECT_EQ(killed->state, ContainerState::kExited);
  EXPECT_EQ(killed->exit_code, 137);
  EXPECT_TRUE(runtime.RemoveContainer("c").ok());
  std::error_code ec;
  fs::remove_all(root, ec);
}

}  // namespace
}  // namespace vmmap
