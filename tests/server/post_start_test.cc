// Limits applied after start (server/runtime/post_start.h) on libvirt's test
// driver. The test driver rejects every scheduler-parameter update, which is
// exactly the failure path: a domain whose limits cannot be applied must not
// be left running.
#include "server/runtime/post_start.h"

#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mapper/domain_xml.h"
#include "mapper/kubelet_math.h"
#include "mapper/planner.h"
#include "server/runtime/plan_input.h"
#include "tests/harness/forwarding_hypervisor.h"
#include "tests/server/runtime_fixture.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class PostStartTest : public RuntimeFixture {
 protected:
  static LinuxResources CpuLimit(int64_t milli) {
    LinuxResources r;
    if (milli > 0) {
      r.cpu_period_us = kDefaultQuotaPeriodUs;
      r.cpu_quota_us = MilliCpuToQuota(milli, kDefaultQuotaPeriodUs);
      r.cpu_shares = MilliCpuToShares(milli);
    }
    r.memory_limit_bytes = 256 * kMiB;
    return r;
  }

  // What a kill -9 inside StartContainer leaves: a committed CREATED row whose
  // domain (defined as CreateContainer defines it) is running.
  ContainerRecord InterruptedStart(const std::string& pod, int64_t cpu_milli, bool started = true) {
    SandboxRecord sandbox;
    sandbox.id = "sandbox-" + pod;
    sandbox.config.metadata.name = pod;
    sandbox.config.metadata.namespace_name = "ns";
    sandbox.config.metadata.uid = "uid-" + pod;
    sandbox.config.pod_resources = CpuLimit(cpu_milli);
    EXPECT_TRUE(store_->PutSandbox(sandbox).ok());
    ContainerRecord c;
    c.id = "container-" + pod;
    c.sandbox_id = sandbox.id;
    c.resources = CpuLimit(cpu_milli);
    absl::StatusOr<DomainPlan> plan =
        PlanDomain(PlanInputFor(sandbox.config, c.resources, 0), NodeConfig());
    EXPECT_TRUE(plan.ok()) << plan.status();
    plan->spec.owner.sandbox_id = sandbox.id;
    plan->spec.owner.container_id = c.id;
    c.domain_name = plan->spec.name;
    absl::StatusOr<std::string> xml = RenderDomainXml(SplitStartupLimits(plan->spec).boot);
    EXPECT_TRUE(xml.ok()) << xml.status();
    EXPECT_TRUE(hypervisor_->DefineDomain(*xml).ok());
    if (started) {
      EXPECT_TRUE(hypervisor_->StartDomain(c.domain_name).ok());
    }
    EXPECT_TRUE(store_->PutContainer(c).ok());
    return c;
  }

  virt::PowerState Power(const std::string& name) {
    absl::StatusOr<virt::DomainStatus> s = hypervisor_->DomainState(name);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? s->state : virt::PowerState::kCrashed;
  }
};

TEST_F(PostStartTest, PlannedFromTheRecordsAsCreateContainerPlannedTheDomain) {
  SandboxConfig sandbox;
  sandbox.metadata = {"web", "uid-web", "ns", 0};
  sandbox.pod_resources = CpuLimit(1500);
  ContainerRecord c;
  c.resources = CpuLimit(1500);
  absl::StatusOr<PostStartLimits> limits = PlanPostStartLimits(sandbox, c, NodeConfig());
  ASSERT_TRUE(limits.ok()) << limits.status();
  EXPECT_EQ(limits->emulator_quota_us, 10000);  // the node default, 100m
  EXPECT_EQ(limits->emulator_period_us, 100000);
  c.resources = CpuLimit(0);
  sandbox.pod_resources = CpuLimit(0);
  limits = PlanPostStartLimits(sandbox, c, NodeConfig());
  ASSERT_TRUE(limits.ok()) << limits.status();
  EXPECT_TRUE(limits->empty());  // no CPU limit: no quota to defer
}

TEST_F(PostStartTest, ADomainWhoseLimitsCannotBeAppliedIsDestroyed) {
  ContainerRecord c = InterruptedStart("a", 1500);
  PostStartOutcome applied = ApplyPostStartLimits(*hypervisor_, c.domain_name, {100000, 10000});
  EXPECT_FALSE(applied.status.ok());
  EXPECT_TRUE(applied.domain_destroyed);
  EXPECT_THAT(std::string(applied.status.message()), HasSubstr("so it was destroyed"));
  EXPECT_EQ(Power(c.domain_name), virt::PowerState::kShutoff);
}

TEST_F(PostStartTest, RecoveryFinishesAnInterruptedStartOrUndoesIt) {
  // No CPU limit: nothing to apply, so the start is complete: RUNNING.
  ContainerRecord unlimited = InterruptedStart("free", 0);
  // With a CPU limit the emulator quota must be applied; the test driver
  // refuses, so the domain is destroyed and the row stays CREATED.
  ContainerRecord limited = InterruptedStart("capped", 1500);
  ASSERT_TRUE(runtime_->Recover().ok());

  absl::StatusOr<ContainerRecord> after = store_->GetContainer(unlimited.id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->state, ContainerState::kRunning);
  EXPECT_NE(after->started_at_ns, 0);
  EXPECT_NE(Power(unlimited.domain_name), virt::PowerState::kShutoff);

  after = store_->GetContainer(limited.id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->state, ContainerState::kCreated);
  EXPECT_EQ(Power(limited.domain_name), virt::PowerState::kShutoff);
}

// libvirt's state of a domain whose virDomainCreate had not returned when
// vmmap died (paused, "starting up"), for one domain until it is destroyed;
// the test driver has no such state.
class StillStarting final : public ForwardingHypervisor {
 public:
  StillStarting(virt::Hypervisor* real, std::string domain)
      : ForwardingHypervisor(real), domain_(std::move(domain)) {}
  absl::StatusOr<virt::DomainStatus> DomainState(std::string_view n) override {
    absl::StatusOr<virt::DomainStatus> real = ForwardingHypervisor::DomainState(n);
    if (n != domain_ || destroyed_ || !real.ok()) return real;
    return virt::DomainStatus{virt::PowerState::kPaused, /*VIR_DOMAIN_PAUSED_STARTING_UP*/ 11,
                              /*VIR_DOMAIN_PAUSED*/ 3, true};
  }
  absl::Status DestroyDomain(std::string_view n) override {
    if (n == domain_) destroyed_ = true;
    return ForwardingHypervisor::DestroyDomain(n);
  }

 private:
  std::string domain_;
  bool destroyed_ = false;
};

// Issue 8: a kill -9 inside StartContainer, while libvirt was still starting
// QEMU, was followed by the VM listed RUNNING and then EXITED ("the guest
// powered off"): recovery completed a start that libvirt's reconnect then
// undid. Such a start is undone by recovery itself.
TEST_F(PostStartTest, RecoveryPowersOffADomainLibvirtWasStillStarting) {
  // No CPU limit: recovery would otherwise find nothing to apply and
  // record the start as complete.
  ContainerRecord c = InterruptedStart("booting", 0);
  StillStarting hypervisor(hypervisor_.get(), c.domain_name);
  PodRuntime runtime(RuntimeOptions{dir_, NodeConfig(), nullptr, CgroupRoot()}, &hypervisor,
                     store_.get(), images_.get());
  ASSERT_TRUE(runtime.Recover().ok());
  absl::StatusOr<ContainerRecord> after = store_->GetContainer(c.id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->state, ContainerState::kCreated);
  EXPECT_EQ(Power(c.domain_name), virt::PowerState::kShutoff);
  // The retry starts it.
  ASSERT_TRUE(runtime.StartContainer(c.id).ok());
  EXPECT_EQ(store_->GetContainer(c.id)->state, ContainerState::kRunning);
}

// libvirt starts the domain and dies before it answers: the start's answer
// is lost, and every call fails until libvirtd is back.
class LostStartReply final : public ForwardingHypervisor {
 public:
  using ForwardingHypervisor::ForwardingHypervisor;
  absl::Status StartDomain(std::string_view n) override {
    if (down_) return Down();
    absl::Status started = ForwardingHypervisor::StartDomain(n);
    if (!started.ok() || answered_once_) return started;
    answered_once_ = down_ = true;
    return Down();
  }
  absl::StatusOr<virt::DomainStatus> DomainState(std::string_view n) override {
    if (down_) return Down();
    return ForwardingHypervisor::DomainState(n);
  }
  void Back() { down_ = false; }

 private:
  static absl::Status Down() {
    return absl::UnavailableError("End of file while reading data; reconnecting failed");
  }
  bool answered_once_ = false;
  bool down_ = false;
};

// kubelet's retry of a StartContainer whose answer was lost finds the
// domain running: it finishes that start rather than failing "already
// running" with a CREATED container and a VM nobody accounts for.
TEST_F(PostStartTest, ARetryFinishesAStartWhoseAnswerWasLost) {
  ContainerRecord c = InterruptedStart("lost", 0, /*started=*/false);
  LostStartReply hypervisor(hypervisor_.get());
  PodRuntime runtime(RuntimeOptions{dir_, NodeConfig(), nullptr, CgroupRoot()}, &hypervisor,
                     store_.get(), images_.get());
  EXPECT_TRUE(absl::IsUnavailable(runtime.StartContainer(c.id)));
  EXPECT_EQ(store_->GetContainer(c.id)->state, ContainerState::kCreated);
  EXPECT_EQ(Power(c.domain_name), virt::PowerState::kRunning);
  hypervisor.Back();
  absl::Status retry = runtime.StartContainer(c.id);
  ASSERT_TRUE(retry.ok()) << retry;
  EXPECT_EQ(store_->GetContainer(c.id)->state, ContainerState::kRunning);
  EXPECT_EQ(Power(c.domain_name), virt::PowerState::kRunning);
}

}  // namespace
}  // namespace vmmap
