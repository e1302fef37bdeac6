#include "mapper/memory_plan.h"

#include "absl/strings/str_cat.h"
#include "mapper/overhead_classes.h"
#include "mapper/units.h"

namespace vmmap {

int64_t VmmOverheadBytes(const NodeConfig& node, int64_t guest_bytes, int vcpus,
                         int virtiofs_shares) {
  const OverheadModel& m = node.overhead;
  const int64_t code_cache = node.domain_type == DomainType::kQemu
                                 ? node.tcg_code_cache_mib * kMiB + m.tcg_locked_extra_bytes
                                 : 0;
  return m.fixed_bytes + m.per_vcpu_bytes * vcpus + guest_bytes / m.guest_divisor +
         m.devices_bytes + code_cache + m.per_virtiofs_share_bytes * virtiofs_shares;
}

absl::StatusOr<MemoryPlan> PlanMemory(const PodSandboxInput& input, const LinuxResources& limits,
                                      int vcpus, int virtiofs_shares, const NodeConfig& node,
                                      Explanation& explanation) {
  int64_t guest = node.default_guest_memory_bytes;
  if (limits.HasMemoryLimit()) {
    guest = limits.memory_limit_bytes / kMiB * kMiB;  // QEMU sizes RAM in whole MiB
    explanation.Add("memory", absl::StrCat("memory limit ", FormatBytes(limits.memory_limit_bytes)),
                    "guest memory = the pod's memory limit, rounded down to whole MiB",
                    absl::StrCat(guest / 1024, " KiB"));
  } else {
    explanation.Add("memory", "no memory limit", "guest memory = node default",
                    absl::StrCat(guest / 1024, " KiB"));
  }
  if (guest < node.min_guest_memory_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory limit ", FormatBytes(limits.memory_limit_bytes),
                     " is below the minimum guest memory ",
                     FormatBytes(node.min_guest_memory_bytes), " a VM needs to boot"));
  }
  if (guest > kMaxGuestBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory limit ", FormatBytes(limits.memory_limit_bytes),
                     " is larger than vmmap's maximum guest of 16Ti"));
  }
  const int64_t overhead = VmmOverheadBytes(node, guest, vcpus, virtiofs_shares);
  MemoryPlan plan;
  plan.guest_kib = guest / 1024;
  plan.overhead_kib = (overhead + 1023) / 1024;
  plan.hard_limit_kib = plan.guest_kib + plan.overhead_kib;
  const OverheadModel& m = node.overhead;
  explanation.Add(
      "VMM overhead", absl::StrCat("guest ", FormatBytes(guest), ", ", vcpus, " vCPUs"),
      absl::StrCat(
          "fixed ", m.fixed_bytes / kMiB, "Mi + ", m.per_vcpu_bytes / kMiB, "Mi × vCPUs + guest / ",
          m.guest_divisor, " + devices ", m.devices_bytes / kMiB, "Mi",
          node.domain_type == DomainType::kQemu
              ? absl::StrCat(" + TCG code cache ", node.tcg_code_cache_mib,
                             "Mi + TCG locked extra ", m.tcg_locked_extra_bytes / kMiB, "Mi")
              : "",
          virtiofs_shares > 0 ? absl::StrCat(" + virtiofsd ", m.per_virtiofs_share_bytes / kMiB,
                                             "Mi × ", virtiofs_shares, " shares")
                              : "",
          " (docs/overhead-measurement.md)"),
      FormatBytes(overhead));
  explanation.Add("memtune/hard_limit", "guest memory + VMM overhead",
                  "the cgroup limit covers all of QEMU, not just guest RAM",
                  absl::StrCat(plan.hard_limit_kib, " KiB"));
  explanation.Add("memoryBacking/locked", "hard_limit is set",
                  "guest memory never swaps; libvirt sets QEMU's RLIMIT_MEMLOCK to hard_limit",
                  "locked");
  // Compared with what the domain really takes beyond the guest (hard_limit −
  // guest), the same number `vmmap overhead` declares: a pod whose class came
  // from it is never warned about.
  if (std::string shortfall =
          DeclaredOverheadShortfall(input.overhead.memory_limit_bytes, plan.overhead_kib * 1024,
                                    {vcpus, guest, virtiofs_shares});
      !shortfall.empty()) {
    explanation.Warn(std::move(shortfall));
  }
  return plan;
}

}  // namespace vmmap
