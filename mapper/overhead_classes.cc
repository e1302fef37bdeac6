#include "mapper/overhead_classes.h"

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "mapper/memory_plan.h"
#include "mapper/units.h"

namespace vmmap {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return a / b + (a % b != 0 ? 1 : 0); }

// "512mi", "4gi": the largest whole binary unit, lowercase for a DNS label.
std::string SizeLabel(int64_t bytes) {
  if (bytes % kGiB == 0) return absl::StrCat(bytes / kGiB, "gi");
  return absl::StrCat(bytes / kMiB, "mi");
}

bool IsDnsLabelPrefix(const std::string& prefix) {
  if (prefix.empty() || prefix.size() > 40 || !absl::ascii_islower(prefix[0])) return false;
  return std::all_of(prefix.begin(), prefix.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-';
  });
}

RuntimeClassPlan NewClass(const OverheadNeed& first) {
  RuntimeClassPlan c;
  c.max_vcpus = first.shape.vcpus;
  c.cpu_milli = first.cpu_milli;
  return c;
}

}  // namespace

absl::StatusOr<OverheadNeed> OverheadNeedFor(const NodeConfig& node, const VmShape& shape) {
  if (shape.vcpus < 1 || shape.vcpus > node.max_vcpus) {
    return absl::InvalidArgumentError(
        absl::StrCat("vCPUs ", shape.vcpus, " is outside [1, ", node.max_vcpus, "] (--max-vcpus)"));
  }
  if (shape.guest_bytes < node.min_guest_memory_bytes || shape.guest_bytes > kMaxGuestBytes ||
      shape.guest_bytes % kMiB != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory ", FormatBytes(shape.guest_bytes), " is not a whole number of Mi in [",
                     FormatBytes(node.min_guest_memory_bytes), ", 16Ti] (--min-memory)"));
  }
  const OverheadModel& m = node.overhead;
  OverheadNeed need;
  need.shape = shape;
  auto term = [&need](std::string name, std::string input, std::string rule, int64_t bytes) {
    need.terms.push_back({std::move(name), std::move(input), std::move(rule), FormatBytes(bytes)});
    return bytes;
  };
  int64_t sum = 0;
  sum += term("fixed", "QEMU heap, arenas, ROMs, ACPI tables, kmem", "constant", m.fixed_bytes);
  sum += term("per vCPU", absl::StrCat(shape.vcpus, " vCPUs"),
              absl::StrCat(m.per_vcpu_bytes / kMiB, "Mi × vCPUs (thread stacks locked whole)"),
              m.per_vcpu_bytes * shape.vcpus);
  sum += term("page tables", absl::StrCat("guest ", FormatBytes(shape.guest_bytes)),
              absl::StrCat("guest / ", m.guest_divisor), shape.guest_bytes / m.guest_divisor);
  sum += term("devices", "virtio disk, balloon, serial", "constant", m.devices_bytes);
  if (node.domain_type == DomainType::kQemu) {
    sum += term("TCG code cache", "domain type qemu", "<tcg><tb-cache> bound",
                node.tcg_code_cache_mib * kMiB);
    sum += term("TCG locked extra", "domain type qemu",
                "measured with a working mlockall (docs/capacity.md)", m.tcg_locked_extra_bytes);
  }
  if (shape.virtiofs_shares > 0) {
    sum += term("virtiofsd", absl::StrCat(shape.virtiofs_shares, " virtio-fs shares"),
                absl::StrCat(m.per_virtiofs_share_bytes / kMiB, "Mi × shares"),
                m.per_virtiofs_share_bytes * shape.virtiofs_shares);
  }
  // The terms above must be the model itself: a new model term that is not
  // listed here would make the printed classes too small.
  const int64_t model =
      VmmOverheadBytes(node, shape.guest_bytes, shape.vcpus, shape.virtiofs_shares);
  if (sum != model) {
    return absl::InternalError(absl::StrCat("overhead terms sum to ", sum,
                                            " bytes but the model says ", model,
                                            "; update mapper/overhead_classes.cc"));
  }
  need.memory_bytes = CeilDiv(model, 1024) * 1024;  // PlanMemory's hard_limit − guest
  need.terms.push_back({"memory overhead", "sum of the terms", "= hard_limit − guest",
                        FormatBytes(need.memory_bytes)});
  need.cpu_milli = node.default_emulator_milli;
  need.terms.push_back({"cpu overhead", "emulator threads' slice (--emulator-cpu)",
                        "spec.overhead.cpu E: global_quota = limit + E, emulator_quota = E",
                        FormatMilli(need.cpu_milli)});
  return need;
}

absl::StatusOr<std::vector<RuntimeClassPlan>> PlanRuntimeClasses(const NodeConfig& node,
                                                                 const std::vector<VmShape>& shapes,
                                                                 int64_t tolerance_bytes,
                                                                 const std::string& prefix) {
  if (!IsDnsLabelPrefix(prefix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("class name prefix \"", prefix,
                     "\" must be 1-40 lowercase letters, digits or '-', starting with a letter"));
  }
  if (tolerance_bytes < 0) {
    return absl::InvalidArgumentError(absl::StrCat("tolerance ", tolerance_bytes, " is negative"));
  }
  if (shapes.empty()) return absl::InvalidArgumentError("no VM shapes given");
  // vCPUs → needs in ascending memory order, duplicates dropped.
  std::map<int, std::map<int64_t, OverheadNeed>> by_vcpus;
  for (const VmShape& shape : shapes) {
    absl::StatusOr<OverheadNeed> need = OverheadNeedFor(node, shape);
    if (!need.ok()) return need.status();
    by_vcpus[shape.vcpus].emplace(shape.guest_bytes, std::move(*need));
  }
  std::vector<RuntimeClassPlan> classes;
  for (auto& [vcpus, needs] : by_vcpus) {
    std::vector<RuntimeClassPlan> bucket;
    for (auto& [guest, need] : needs) {
      if (bucket.empty() ||
          need.memory_bytes - bucket.back().shapes.front().memory_bytes > tolerance_bytes) {
        bucket.push_back(NewClass(need));
      }
      RuntimeClassPlan& c = bucket.back();
      c.max_guest_bytes = guest;
      c.memory_mib = std::max(c.memory_mib, CeilDiv(need.memory_bytes, kMiB));
      c.shapes.push_back(std::move(need));
    }
    for (RuntimeClassPlan& c : bucket) {
      c.name = absl::StrCat(prefix, "-", vcpus, "vcpu");
      if (bucket.size() > 1) absl::StrAppend(&c.name, "-", SizeLabel(c.max_guest_bytes));
      classes.push_back(std::move(c));
    }
  }
  return classes;
}

std::string DeclaredOverheadShortfall(int64_t declared_bytes, int64_t needed_bytes,
                                      const VmShape& shape) {
  if (declared_bytes >= needed_bytes) return "";
  return absl::StrCat("the pod declares memory overhead ", FormatBytes(declared_bytes),
                      " (spec.overhead, from its RuntimeClass) but the VMM needs ",
                      FormatBytes(needed_bytes),
                      " (hard_limit − guest); the scheduler under-counts this pod by ",
                      FormatBytes(needed_bytes - declared_bytes),
                      ". Give it a RuntimeClass whose overhead.podFixed.memory is at least ",
                      CeilDiv(needed_bytes, kMiB), "Mi: `vmmap overhead --vcpus ", shape.vcpus,
                      " --memory ", shape.guest_bytes / kMiB, "Mi` prints one");
}

}  // namespace vmmap
