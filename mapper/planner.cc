#include "mapper/planner.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "mapper/cpu_plan.h"
#include "mapper/domain_identity.h"
#include "mapper/memory_plan.h"
#include "mapper/partition.h"
#include "mapper/shared_dirs.h"

namespace vmmap {

const char* DomainTypeName(DomainType type) { return type == DomainType::kKvm ? "kvm" : "qemu"; }

const LinuxResources& EffectiveLimits(const PodSandboxInput& input) {
  return input.pod_resources.IsEmpty() ? input.container_resources : input.pod_resources;
}

absl::StatusOr<DomainPlan> PlanDomain(const PodSandboxInput& input, const NodeConfig& node) {
  if (absl::Status s = ValidatePodIdentity(input.identity); !s.ok()) return s;
  DomainPlan plan;
  DomainSpec& spec = plan.spec;
  Explanation& why = plan.explanation;
  why.steps.reserve(16);  // a plan explains a dozen or so steps; spare their moves
  const LinuxResources& limits = EffectiveLimits(input);

  spec.type = node.domain_type;
  spec.name = DomainNameFor(input.identity);
  spec.uuid = DomainUuidFor(input.identity);
  why.Add("name",
          absl::StrCat("pod ", input.identity.namespace_name, "/", input.identity.name, " uid ",
                       input.identity.uid, " attempt ", input.identity.attempt),
          "vmmap-<namespace[:16]>-<name[:26]>-<hash of the full identity>", spec.name);

  absl::StatusOr<CpuPlan> cpu = PlanCpu(input, limits, node, why);
  if (!cpu.ok()) return cpu.status();
  spec.vcpus = cpu->vcpus;
  spec.cputune = std::move(cpu->cputune);

  absl::StatusOr<std::vector<SharedDirectory>> shares =
      PlanSharedDirectories(input.mounts, input.annotations);
  if (!shares.ok()) return shares.status();
  int virtiofs_shares = 0;
  std::vector<std::string> tags;
  for (const SharedDirectory& share : *shares) {
    if (share.driver == SharedFsDriver::kVirtiofs) ++virtiofs_shares;
    tags.push_back(share.files.empty()
                       ? share.tag
                       : absl::StrCat(share.tag, " (", share.files.size(), " file mounts)"));
  }
  if (!shares->empty()) {
    why.Add("devices/filesystem", absl::StrCat(input.mounts.size(), " volume mounts"),
            virtiofs_shares > 0
                ? "one virtio-fs share (virtiofsd, cache=none) per directory and one for all "
                  "single-file mounts; guest RAM shared memfd"
                : absl::StrCat("one 9p share (", kSharedFsAnnotation,
                               ": 9p) per directory and one for all single-file mounts"),
            absl::StrJoin(tags, ", "));
  }
  spec.shared_dirs = *std::move(shares);
  spec.memory_shared = virtiofs_shares > 0;
  spec.virtiofs = node.virtiofs;

  absl::StatusOr<MemoryPlan> memory =
      PlanMemory(input, limits, spec.vcpus, virtiofs_shares, node, why);
  if (!memory.ok()) return memory.status();
  spec.memory_kib = memory->guest_kib;
  spec.hard_limit_kib = memory->hard_limit_kib;
  spec.memory_locked = true;
  if (node.domain_type == DomainType::kQemu) spec.tcg_code_cache_mib = node.tcg_code_cache_mib;

  absl::StatusOr<std::string> partition = ResourcePartitionFor(input.cgroup_parent, node, why);
  if (!partition.ok()) return partition.status();
  spec.resource_partition = std::move(*partition);

  spec.emulator_path = node.emulator_path;
  spec.balloon_stats_period_s = node.balloon_stats_period_s;
  spec.owner.namespace_name = input.identity.namespace_name;
  spec.owner.name = input.identity.name;
  spec.owner.uid = input.identity.uid;
  spec.owner.attempt = input.identity.attempt;
  return plan;
}

}  // namespace vmmap
