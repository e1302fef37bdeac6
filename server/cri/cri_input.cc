#include "server/cri/cri_input.h"

namespace vmmap {

LinuxResources FromCri(const runtime::v1::LinuxContainerResources& r) {
  LinuxResources out;
  out.cpu_period_us = r.cpu_period();
  out.cpu_quota_us = r.cpu_quota();
  out.cpu_shares = r.cpu_shares();
  out.memory_limit_bytes = r.memory_limit_in_bytes();
  out.cpuset_cpus = r.cpuset_cpus();
  return out;
}

PodSandboxInput SandboxInputFromCri(const runtime::v1::PodSandboxConfig& sandbox,
                                    const runtime::v1::LinuxContainerResources& container,
                                    uint32_t container_attempt) {
  PodSandboxInput in;
  in.identity.name = sandbox.metadata().name();
  in.identity.namespace_name = sandbox.metadata().namespace_();
  in.identity.uid = sandbox.metadata().uid();
  in.identity.attempt = sandbox.metadata().attempt();
  in.identity.container_attempt = container_attempt;
  in.labels.insert(sandbox.labels().begin(), sandbox.labels().end());
  in.annotations.insert(sandbox.annotations().begin(), sandbox.annotations().end());
  in.cgroup_parent = sandbox.linux().cgroup_parent();
  if (sandbox.linux().has_resources()) in.pod_resources = FromCri(sandbox.linux().resources());
  if (sandbox.linux().has_overhead()) in.overhead = FromCri(sandbox.linux().overhead());
  in.container_resources = FromCri(container);
  return in;
}

}  // namespace vmmap
