// ObserveDomain: what a domain's libvirt state means for its container row.
#include "server/runtime/domain_observation.h"

#include <gtest/gtest.h>

namespace vmmap {
namespace {

ContainerRecord Running() {
  ContainerRecord r;
  r.id = "c1";
  r.domain_name = "vmmap-ns-pod-0123456789ab";
  r.state = ContainerState::kRunning;
  return r;
}

// libvirt's (state, reason) pairs: VIR_DOMAIN_SHUTOFF = 5 with
// VIR_DOMAIN_SHUTOFF_SHUTDOWN = 1 / VIR_DOMAIN_SHUTOFF_CRASHED = 3.
virt::DomainStatus Shutoff(int reason) { return {virt::PowerState::kShutoff, reason, 5}; }

TEST(DomainObservationTest, AGuestThatPoweredOffCompleted) {
  std::optional<ContainerRecord> r = ObserveDomain(Running(), Shutoff(1), 42);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->state, ContainerState::kExited);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->reason, "Completed");
  EXPECT_EQ(r->finished_at_ns, 42);
}

// An OOM-killed QEMU (the filled node, docs/capacity.md) is "shut off,
// crashed" in libvirt: it must not read as a guest that completed.
TEST(DomainObservationTest, AKilledQemuIsNotACompletedGuest) {
  std::optional<ContainerRecord> r = ObserveDomain(Running(), Shutoff(3), 42);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->state, ContainerState::kExited);
  EXPECT_EQ(r->exit_code, 137);
  EXPECT_EQ(r->reason, "QemuKilled");
  EXPECT_NE(r->message.find("OOM killer"), std::string::npos) << r->message;
}

TEST(DomainObservationTest, VanishedAndCrashedDomains) {
  std::optional<ContainerRecord> gone =
      ObserveDomain(Running(), absl::NotFoundError("no domain"), 1);
  ASSERT_TRUE(gone.has_value());
  EXPECT_EQ(gone->exit_code, 255);
  EXPECT_EQ(gone->reason, "DomainVanished");
  std::optional<ContainerRecord> crashed =
      ObserveDomain(Running(), virt::DomainStatus{virt::PowerState::kCrashed, 0, 6}, 1);
  ASSERT_TRUE(crashed.has_value());
  EXPECT_EQ(crashed->exit_code, 1);
  EXPECT_EQ(crashed->reason, "Crashed");
  // libvirt unreachable is not a state; a row that is not running does not change.
  EXPECT_FALSE(ObserveDomain(Running(), absl::UnavailableError("down"), 1).has_value());
  ContainerRecord created = Running();
  created.state = ContainerState::kCreated;
  EXPECT_FALSE(ObserveDomain(created, Shutoff(3), 1).has_value());
}

}  // namespace
}  // namespace vmmap
