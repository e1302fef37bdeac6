// The RuntimeClass overhead (mapper/overhead_classes.h) against the planner:
// what `vmmap overhead` declares is exactly what a planned domain takes, and
// the "declared overhead is smaller than needed" warning fires only then.
#include "mapper/overhead_classes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "mapper/kubelet_math.h"
#include "mapper/planner.h"

namespace vmmap {
namespace {

using ::testing::HasSubstr;

// A Guaranteed pod as kubelet sends it: requests = limits, `overhead` from its class.
PodSandboxInput GuaranteedPod(int vcpus, int64_t memory_bytes) {
  PodSandboxInput in;
  in.identity = {"web", "shop", "6b1c5a0e-8f0a-4a39-9d53-1b2f0c7d9e11", 0};
  const int64_t milli = int64_t{1000} * vcpus;
  in.pod_resources.cpu_period_us = kDefaultQuotaPeriodUs;
  in.pod_resources.cpu_quota_us = MilliCpuToQuota(milli, kDefaultQuotaPeriodUs);
  in.pod_resources.cpu_shares = MilliCpuToShares(milli);
  in.pod_resources.memory_limit_bytes = memory_bytes;
  in.container_resources = in.pod_resources;
  return in;
}

void DeclareOverhead(PodSandboxInput& in, int64_t memory_bytes, int64_t cpu_milli) {
  in.overhead.memory_limit_bytes = memory_bytes;
  in.overhead.cpu_period_us = kDefaultQuotaPeriodUs;
  in.overhead.cpu_quota_us = MilliCpuToQuota(cpu_milli, kDefaultQuotaPeriodUs);
  in.overhead.cpu_shares = MilliCpuToShares(cpu_milli);
}

std::vector<NodeConfig> Nodes() {
  NodeConfig kvm;
  NodeConfig tcg;
  tcg.domain_type = DomainType::kQemu;
  NodeConfig busy_emulator;
  busy_emulator.default_emulator_milli = 250;
  return {kvm, tcg, busy_emulator};
}

const std::vector<int> kVcpus = {1, 2, 3, 4, 8, 16};
const std::vector<int64_t> kMemories = {64 * kMiB, 300 * kMiB, 512 * kMiB,
                                        kGiB,      3 * kGiB,   16 * kGiB};

TEST(OverheadNeedTest, EqualsWhatThePlannedDomainTakesBeyondItsGuest) {
  for (const NodeConfig& node : Nodes()) {
    for (int vcpus : kVcpus) {
      for (int64_t memory : kMemories) {
        SCOPED_TRACE(absl::StrCat(DomainTypeName(node.domain_type), " ", vcpus, " vCPUs ", memory));
        absl::StatusOr<OverheadNeed> need = OverheadNeedFor(node, {vcpus, memory});
        ASSERT_TRUE(need.ok()) << need.status();
        absl::StatusOr<DomainPlan> plan = PlanDomain(GuaranteedPod(vcpus, memory), node);
        ASSERT_TRUE(plan.ok()) << plan.status();
        EXPECT_EQ(need->memory_bytes, (*plan->spec.hard_limit_kib - plan->spec.memory_kib) * 1024);
        EXPECT_EQ(need->cpu_milli, node.default_emulator_milli);
      }
    }
  }
}

TEST(OverheadNeedTest, ExplainsEveryTermIncludingTheTcgCodeCache) {
  NodeConfig tcg;
  tcg.domain_type = DomainType::kQemu;
  absl::StatusOr<OverheadNeed> need = OverheadNeedFor(tcg, {2, kGiB});
  ASSERT_TRUE(need.ok());
  std::string targets;
  for (const Derivation& d : need->terms) absl::StrAppend(&targets, d.target, ";");
  EXPECT_EQ(targets,
            "fixed;per vCPU;page tables;devices;TCG code cache;TCG locked extra;memory overhead;"
            "cpu overhead;");
  EXPECT_EQ(need->memory_bytes, (64 + 32 + 2 + 16 + 64 + 24) * kMiB);
}

TEST(OverheadNeedTest, RejectsShapesTheNodeWouldRefuseNamingTheValue) {
  NodeConfig node;
  node.max_vcpus = 4;
  absl::StatusOr<OverheadNeed> r = OverheadNeedFor(node, {0, kGiB});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("vCPUs 0"));
  r = OverheadNeedFor(node, {5, kGiB});
  EXPECT_THAT(r.status().message(), HasSubstr("vCPUs 5 is outside [1, 4]"));
  r = OverheadNeedFor(node, {1, 32 * kMiB});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("32Mi"));
  r = OverheadNeedFor(node, {1, kGiB + 1});
  EXPECT_THAT(r.status().message(), HasSubstr("1073741825 bytes"));
}

// The scheduler's sum for a pod that uses the class covering its shape is at
// least what the domain takes: memory hard_limit, CPU global_quota; and no
// warning. One KiB less declared and the warning is back.
TEST(RuntimeClassTest, ClassCoveringAShapeMakesTheSchedulersSumCoverTheDomain) {
  for (const NodeConfig& node : Nodes()) {
    std::vector<VmShape> shapes;
    for (int vcpus : kVcpus) {
      for (int64_t memory : kMemories) shapes.push_back({vcpus, memory});
    }
    absl::StatusOr<std::vector<RuntimeClassPlan>> classes =
        PlanRuntimeClasses(node, shapes, 16 * kMiB, "vmmap");
    ASSERT_TRUE(classes.ok()) << classes.status();
    for (const VmShape& shape : shapes) {
      SCOPED_TRACE(absl::StrCat(DomainTypeName(node.domain_type), " ", shape.vcpus, " vCPUs ",
                                shape.guest_bytes));
      // The first class that covers the shape, as the header tells users.
      const RuntimeClassPlan* chosen = nullptr;
      for (const RuntimeClassPlan& c : *classes) {
        if (c.max_vcpus >= shape.vcpus && c.max_guest_bytes >= shape.guest_bytes) {
          chosen = &c;
          break;
        }
      }
      ASSERT_NE(chosen, nullptr);
      PodSandboxInput pod = GuaranteedPod(shape.vcpus, shape.guest_bytes);
      DeclareOverhead(pod, chosen->memory_mib * kMiB, chosen->cpu_milli);
      absl::StatusOr<DomainPlan> plan = PlanDomain(pod, node);
      ASSERT_TRUE(plan.ok()) << plan.status();
      EXPECT_TRUE(plan->explanation.warnings.empty()) << plan->explanation.warnings.front();
      EXPECT_GE(shape.guest_bytes + chosen->memory_mib * kMiB, *plan->spec.hard_limit_kib * 1024);
      const int64_t scheduler_cpu_quota =
          MilliCpuToQuota(int64_t{1000} * shape.vcpus + chosen->cpu_milli, kDefaultQuotaPeriodUs);
      EXPECT_EQ(scheduler_cpu_quota, plan->spec.cputune.global_quota_us);
      ASSERT_TRUE(plan->spec.cputune.emulator_quota_us.has_value());
      EXPECT_EQ(*plan->spec.cputune.emulator_quota_us,
                MilliCpuToQuota(chosen->cpu_milli, kDefaultQuotaPeriodUs));

      const int64_t needed = (*plan->spec.hard_limit_kib - plan->spec.memory_kib) * 1024;
      DeclareOverhead(pod, needed - 1024, chosen->cpu_milli);
      absl::StatusOr<DomainPlan> short_plan = PlanDomain(pod, node);
      ASSERT_TRUE(short_plan.ok());
      ASSERT_EQ(short_plan->explanation.warnings.size(), 1u);
      EXPECT_THAT(short_plan->explanation.warnings[0],
                  HasSubstr("under-counts this pod by 1024 bytes"));
      EXPECT_THAT(short_plan->explanation.warnings[0],
                  HasSubstr(absl::StrCat("vmmap overhead --vcpus ", shape.vcpus)));
    }
  }
}

TEST(RuntimeClassTest, PodWithoutOverheadIsWarnedAndToldHowToFixIt) {
  absl::StatusOr<DomainPlan> plan = PlanDomain(GuaranteedPod(2, kGiB), NodeConfig());
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->explanation.warnings.size(), 1u);
  EXPECT_THAT(plan->explanation.warnings[0], HasSubstr("declares memory overhead 0 bytes"));
  EXPECT_THAT(plan->explanation.warnings[0], HasSubstr("at least 114Mi"));
  EXPECT_THAT(plan->explanation.warnings[0], HasSubstr("vmmap overhead --vcpus 2 --memory 1024Mi"));
}

TEST(RuntimeClassTest, OneClassPerVcpuCountSplitByMemoryBeyondTheTolerance) {
  const std::vector<VmShape> shapes = {{2, 512 * kMiB}, {1, kGiB}, {2, 16 * kGiB},
                                       {2, 8 * kGiB},   {2, kGiB}, {1, kGiB}};
  absl::StatusOr<std::vector<RuntimeClassPlan>> classes =
      PlanRuntimeClasses(NodeConfig(), shapes, 16 * kMiB, "vmmap");
  ASSERT_TRUE(classes.ok()) << classes.status();
  ASSERT_EQ(classes->size(), 3u);
  EXPECT_EQ((*classes)[0].name, "vmmap-1vcpu");
  EXPECT_EQ((*classes)[0].shapes.size(), 1u);  // the duplicate shape counts once
  EXPECT_EQ((*classes)[0].memory_mib, 64 + 16 + 2 + 16);
  // 512Mi, 1Gi and 8Gi need 113, 114 and 128 Mi: within 16Mi of the first.
  EXPECT_EQ((*classes)[1].name, "vmmap-2vcpu-8gi");
  EXPECT_EQ((*classes)[1].max_guest_bytes, 8 * kGiB);
  EXPECT_EQ((*classes)[1].memory_mib, 64 + 32 + 16 + 16);
  EXPECT_EQ((*classes)[2].name, "vmmap-2vcpu-16gi");
  EXPECT_EQ((*classes)[2].memory_mib, 64 + 32 + 32 + 16);
  EXPECT_EQ((*classes)[2].cpu_milli, 100);

  absl::StatusOr<std::vector<RuntimeClassPlan>> one =
      PlanRuntimeClasses(NodeConfig(), shapes, kGiB, "rc");
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 2u);
  EXPECT_EQ((*one)[1].name, "rc-2vcpu");
  EXPECT_EQ((*one)[1].memory_mib, 144);
}

TEST(RuntimeClassTest, BadPrefixToleranceOrNoShapesAreInvalidArguments) {
  const std::vector<VmShape> shapes = {{1, kGiB}};
  for (const std::string& prefix : {std::string(""), std::string("Vmmap"), std::string("vm_map"),
                                    std::string("1vm"), std::string(41, 'a')}) {
    absl::StatusOr<std::vector<RuntimeClassPlan>> r =
        PlanRuntimeClasses(NodeConfig(), shapes, 0, prefix);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << prefix;
    EXPECT_THAT(r.status().message(), HasSubstr(absl::StrCat("\"", prefix, "\""))) << prefix;
  }
  EXPECT_THAT(PlanRuntimeClasses(NodeConfig(), shapes, -1, "vmmap").status().message(),
              HasSubstr("tolerance -1"));
  EXPECT_THAT(PlanRuntimeClasses(NodeConfig(), {}, 0, "vmmap").status().message(),
              HasSubstr("no VM shapes"));
  EXPECT_THAT(
      PlanRuntimeClasses(NodeConfig(), {{1, kGiB}, {99, kGiB}}, 0, "vmmap").status().message(),
      HasSubstr("vCPUs 99"));
}

}  // namespace
}  // namespace vmmap
