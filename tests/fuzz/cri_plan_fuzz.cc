// The CRI path a pod author and kubelet drive: the typed sandbox and
// container configs server/cri builds from RunPodSandbox/CreateContainer
// (server/state/records.h) → PlanInputFor (server/runtime/plan_input.h) →
// PlanDomain → XML, exactly as CreateContainer and StartContainer plan.
// Integers are drawn from the ranges the CRI edge lets through
// (server/cri/request_checks.h), so any UB here is reachable from a request;
// names, labels, annotations and cgroup parents are arbitrary bytes. Any
// input must end in a plan or a Status; a plan must keep the invariants.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "mapper/planner.h"
#include "mapper/startup_limits.h"
#include "server/runtime/plan_input.h"
#include "tests/fuzz/plan_invariants.h"

namespace {

using vmmap::LinuxResources;

// Annotation keys the mapper reads, and a few it must ignore.
const char* const kKeys[] = {"vmmap.io/vcpus",
                             "VirtletVCPUCount",
                             "vmmap.io/emulator-cpu",
                             "vmmap.io/other",
                             "kubernetes.io/config.source",
                             ""};

int64_t OneOf(FuzzedDataProvider& in, int64_t a, int64_t b, int64_t lo, int64_t hi) {
  switch (in.ConsumeIntegralInRange<int>(0, 2)) {
    case 0:
      return a;
    case 1:
      return b;
    default:
      return in.ConsumeIntegralInRange<int64_t>(lo, hi);
  }
}

// What request_checks.h admits for LinuxContainerResources.
LinuxResources Resources(FuzzedDataProvider& in) {
  LinuxResources r;
  r.cpu_period_us = OneOf(in, 0, 100000, 1000, 1000000);
  r.cpu_quota_us = OneOf(in, -1, 0, 1000, (int64_t{1} << 44) - 1);
  r.cpu_shares = OneOf(in, 0, 2, 2, 262144);
  r.memory_limit_bytes = OneOf(in, 0, int64_t{256} << 20, 4096, int64_t{1} << 62);
  r.cpuset_cpus = in.ConsumeRandomLengthString(64);
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  vmmap::SandboxConfig sandbox;
  sandbox.metadata.name = in.ConsumeRandomLengthString(80);
  sandbox.metadata.namespace_name = in.ConsumeRandomLengthString(80);
  sandbox.metadata.uid = in.ConsumeRandomLengthString(80);
  sandbox.metadata.attempt = in.ConsumeIntegral<uint32_t>();
  const int annotations = in.ConsumeIntegralInRange<int>(0, 6);
  for (int i = 0; i < annotations; ++i) {
    std::string key =
        in.ConsumeBool() ? in.PickValueInArray(kKeys) : in.ConsumeRandomLengthString(64);
    sandbox.annotations[key] = in.ConsumeRandomLengthString(32);
  }
  const int labels = in.ConsumeIntegralInRange<int>(0, 3);
  for (int i = 0; i < labels; ++i) {
    sandbox.labels[in.ConsumeRandomLengthString(32)] = in.ConsumeRandomLengthString(32);
  }
  sandbox.cgroup_parent = in.ConsumeBool() ? "/kubepods/burstable/pod" + sandbox.metadata.uid
                                           : in.ConsumeRandomLengthString(128);
  sandbox.pod_resources = Resources(in);
  if (in.ConsumeBool()) sandbox.overhead = Resources(in);
  const LinuxResources container = Resources(in);
  const uint32_t container_attempt = in.ConsumeIntegral<uint32_t>();

  for (vmmap::CgroupDriver driver :
       {vmmap::CgroupDriver::kCgroupfs, vmmap::CgroupDriver::kSystemd}) {
    vmmap::NodeConfig node;
    node.cgroup_driver = driver;
    absl::StatusOr<vmmap::DomainPlan> plan =
        vmmap::PlanDomain(vmmap::PlanInputFor(sandbox, container, container_attempt), node);
    if (!plan.ok()) continue;
    vmmap::fuzz::CheckPlanInvariants(plan->spec);
    // What CreateContainer defines (start-up limits split off) renders too.
    if (!vmmap::RenderDomainXml(vmmap::SplitStartupLimits(plan->spec).boot).ok()) abort();
  }
  return 0;
}
