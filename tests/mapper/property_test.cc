// Invariants of the mapping over thousands of generated pods. The generator
// is seeded, so a failure reproduces; the printed input names the case.
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <random>

#include <gtest/gtest.h>
#include <pugixml.hpp>

#include "absl/strings/str_cat.h"
#include "mapper/annotations.h"
#include "mapper/domain_xml.h"
#include "mapper/kubelet_math.h"
#include "mapper/planner.h"

namespace vmmap {
namespace {

constexpr int kPods = 5000;
constexpr int kDefineEvery = 25;  // also define a sample on libvirt's test driver

struct Generated {
  PodSandboxInput input;
  NodeConfig node;
  std::string description;
};

Generated Generate(std::mt19937_64& rng, int index) {
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  Generated g;
  g.node.cgroup_version = pick(1, 2);
  g.node.max_vcpus = static_cast<int>(pick(1, 64));
  g.input.identity = {absl::StrCat("pod-", index), "ns", absl::StrCat("uid-", index), 0};
  LinuxResources& r = g.input.pod_resources;
  r.cpu_period_us = pick(0, 3) == 0 ? pick(1000, 1000000) : kDefaultQuotaPeriodUs;
  const int64_t cpu_milli = pick(0, 4) == 0 ? 0 : pick(1, pick(0, 1) ? 4000 : 128000);
  r.cpu_quota_us = MilliCpuToQuota(cpu_milli, r.cpu_period_us);
  r.cpu_shares = MilliCpuToShares(pick(0, cpu_milli == 0 ? 2000 : cpu_milli));
  r.memory_limit_bytes = pick(0, 4) == 0 ? 0 : pick(1, int64_t{64} << 30);
  if (pick(0, 2) == 0) {
    const int64_t o = pick(1, 1000);
    g.input.overhead.cpu_period_us = kDefaultQuotaPeriodUs;
    g.input.overhead.cpu_quota_us = MilliCpuToQuota(o, kDefaultQuotaPeriodUs);
    g.input.overhead.cpu_shares = MilliCpuToShares(o);
    g.input.overhead.memory_limit_bytes = pick(0, 512) << 20;
  }
  if (pick(0, 2) == 0) g.input.annotations[kVcpusAnnotation] = absl::StrCat(pick(-2, 70));
  if (pick(0, 3) == 0)
    g.input.annotations[kEmulatorCpuAnnotation] = absl::StrCat(pick(0, 2500), "m");
  g.input.container_resources = r;
  g.description =
      absl::StrCat("pod ", index, ": period ", r.cpu_period_us, " quota ", r.cpu_quota_us,
                   " shares ", r.cpu_shares, " memory ", r.memory_limit_bytes, " overhead quota ",
                   g.input.overhead.cpu_quota_us, " cgroup v", g.node.cgroup_version, " max_vcpus ",
                   g.node.max_vcpus);
  for (const auto& [k, v] : g.input.annotations) absl::StrAppend(&g.description, " ", k, "=", v);
  return g;
}

void CheckRange(const std::optional<int64_t>& v, int64_t lo, int64_t hi, const char* what,
                const std::string& where) {
  if (!v) return;
  EXPECT_GE(*v, lo) << what << " in " << where;
  EXPECT_LE(*v, hi) << what << " in " << where;
}

TEST(MappingPropertyTest, InvariantsHoldForGeneratedPods) {
  virConnectPtr conn = virConnectOpen("test:///default");
  ASSERT_NE(conn, nullptr);
  std::mt19937_64 rng(20261122);
  int planned = 0;
  int rejected = 0;
  int split = 0;
  for (int i = 0; i < kPods; ++i) {
    const Generated g = Generate(rng, i);
    absl::StatusOr<DomainPlan> plan = PlanDomain(g.input, g.node);
    if (!plan.ok()) {
      // Every rejection is a clear InvalidArgument, never a crash or a clamp.
      EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << g.description;
      EXPECT_FALSE(plan.status().message().empty());
      ++rejected;
      continue;
    }
    ++planned;
    const DomainSpec& s = plan->spec;
    const CpuTune& t = s.cputune;
    const LinuxResources& r = g.input.pod_resources;

    // vCPU rule.
    auto annotated = g.input.annotations.find(kVcpusAnnotation);
    if (annotated != g.input.annotations.end()) {
      EXPECT_EQ(absl::StrCat(s.vcpus), annotated->second) << g.description;
    } else if (r.HasCpuLimit()) {
      const int64_t cores = (r.cpu_quota_us + r.cpu_period_us - 1) / r.cpu_period_us;
      EXPECT_EQ(s.vcpus, std::min<int64_t>(cores, g.node.max_vcpus)) << g.description;
    } else {
      EXPECT_EQ(s.vcpus, 1) << g.description;
    }
    EXPECT_GE(s.vcpus, 1);
    EXPECT_LE(s.vcpus, g.node.max_vcpus);

    // libvirt's ranges.
    for (const auto* p : {&t.period_us, &t.global_period_us, &t.emulator_period_us}) {
      CheckRange(*p, kMinPeriodUs, kMaxPeriodUs, "period", g.description);
    }
    for (const auto* q : {&t.quota_us, &t.global_quota_us, &t.emulator_quota_us}) {
      CheckRange(*q, kMinQuotaUs, kMaxQuotaUs, "quota", g.description);
    }
    if (g.node.cgroup_version == 2) {
      CheckRange(t.shares, kMinWeight, kMaxWeight, "weight", g.description);
    } else {
      CheckRange(t.shares, kMinShares, kMaxShares, "shares", g.description);
    }

    // The CPU ceiling and the split.
    EXPECT_EQ(t.global_quota_us.has_value(), r.HasCpuLimit()) << g.description;
    if (t.global_quota_us) {
      const int64_t overhead =
          g.input.overhead.cpu_quota_us * r.cpu_period_us / kDefaultQuotaPeriodUs;
      EXPECT_EQ(*t.global_quota_us, r.cpu_quota_us + overhead) << g.description;
    }
    EXPECT_EQ(t.quota_us.has_value(), t.emulator_quota_us.has_value());
    if (t.quota_us) {
      ++split;
      EXPECT_LE(s.vcpus * *t.quota_us + *t.emulator_quota_us, *t.global_quota_us) << g.description;
      EXPECT_LE(*t.quota_us, *t.period_us) << g.description;
    }

    // Memory.
    ASSERT_TRUE(s.hard_limit_kib.has_value());
    EXPECT_GE(*s.hard_limit_kib, s.memory_kib) << g.description;
    EXPECT_TRUE(s.memory_locked);
    if (r.HasMemoryLimit()) {
      EXPECT_LE(s.memory_kib * 1024, r.memory_limit_bytes) << g.description;
    }

    absl::StatusOr<std::string> xml = RenderDomainXml(s);
    ASSERT_TRUE(xml.ok()) << xml.status();
    pugi::xml_document doc;
    ASSERT_TRUE(doc.load_string(xml->c_str())) << g.description;
    // The test driver checks shares against the v1 range only.
    if (i % kDefineEvery == 0 && g.node.cgroup_version == 1) {
      virDomainPtr dom = virDomainDefineXMLFlags(conn, xml->c_str(), VIR_DOMAIN_DEFINE_VALIDATE);
      ASSERT_NE(dom, nullptr) << g.description << "\n" << virGetLastErrorMessage() << "\n" << *xml;
      EXPECT_EQ(virDomainUndefine(dom), 0);
      virDomainFree(dom);
    }
  }
  virConnectClose(conn);
  // The generator must exercise every branch, or the test proves little.
  EXPECT_GT(planned, kPods / 2);
  EXPECT_GT(rejected, kPods / 20);
  EXPECT_GT(split, kPods / 4);
  RecordProperty("planned", planned);
  RecordProperty("rejected", rejected);
}

}  // namespace
}  // namespace vmmap
