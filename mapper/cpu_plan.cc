#include "mapper/cpu_plan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "mapper/annotations.h"
#include "mapper/cpuset.h"
#include "mapper/kubelet_math.h"
#include "mapper/units.h"

namespace vmmap {
namespace {

// Without (a + b − 1): a is a pod-controlled quota and may be near INT64_MAX.
int64_t CeilDiv(int64_t a, int64_t b) { return a / b + (a % b != 0 ? 1 : 0); }

absl::StatusOr<int> PlanVcpus(const PodSandboxInput& input, const LinuxResources& limits,
                              int64_t period_us, const NodeConfig& node, Explanation& explanation) {
  absl::StatusOr<std::optional<int>> requested = RequestedVcpus(input.annotations, node.max_vcpus);
  if (!requested.ok()) return requested.status();
  if (requested->has_value()) {
    const char* key =
        input.annotations.count(kVcpusAnnotation) ? kVcpusAnnotation : kVirtletVcpusAnnotation;
    explanation.Add(
        "vcpu", absl::StrCat("annotation ", key, "=", **requested),
        absl::StrCat("the pod's annotation, checked against the node maximum ", node.max_vcpus),
        absl::StrCat(**requested));
    return **requested;
  }
  if (!limits.HasCpuLimit()) {
    explanation.Add("vcpu", "no CPU limit", "one vCPU when the pod has no CPU limit", "1");
    return 1;
  }
  const int64_t derived = CeilDiv(limits.cpu_quota_us, period_us);
  int vcpus = static_cast<int>(std::min<int64_t>(derived, node.max_vcpus));
  explanation.Add(
      "vcpu",
      absl::StrCat("CPU limit ", FormatMilli(QuotaToMilliCpu(limits.cpu_quota_us, period_us)),
                   " (quota ", limits.cpu_quota_us, " µs per ", period_us, " µs)"),
      "ceil(limit in cores)", absl::StrCat(vcpus));
  if (derived > node.max_vcpus) {
    explanation.Warn(absl::StrCat("the CPU limit asks for ", derived,
                                  " vCPUs; capped at the node maximum ", node.max_vcpus));
  }
  return vcpus;
}

absl::Status PlanPinning(const LinuxResources& limits, int vcpus, CpuTune& cputune,
                         Explanation& explanation) {
  if (limits.cpuset_cpus.empty()) return absl::OkStatus();
  absl::StatusOr<std::vector<int>> cpus = ParseCpuset(limits.cpuset_cpus, "cpuset_cpus");
  if (!cpus.ok()) return cpus.status();
  if (static_cast<int>(cpus->size()) < vcpus) {
    return absl::InvalidArgumentError(absl::StrCat("cpuset_cpus \"", FormatCpuset(*cpus), "\" has ",
                                                   cpus->size(), " CPUs but the domain has ", vcpus,
                                                   " vCPUs; pinning needs one CPU per vCPU"));
  }
  for (int i = 0; i < vcpus; ++i) cputune.vcpu_pins.push_back({i, (*cpus)[i]});
  cputune.emulator_cpuset = FormatCpuset(*cpus);
  explanation.Add("cputune/vcpupin, emulatorpin", absl::StrCat("cpuset_cpus ", limits.cpuset_cpus),
                  "static CPU manager: vCPU i on the i-th CPU of the set, emulator on the set",
                  absl::StrCat(vcpus, " pins, emulator on ", cputune.emulator_cpuset));
  return absl::OkStatus();
}

// The quota split: fills the period/quota/global/emulator fields of
// `cputune` for `vcpus` vCPUs under `ceiling_quota_us`. Unless
// `emulator_explicit`, the emulator's share is capped at half the ceiling.
void SplitQuota(int vcpus, int64_t period_us, int64_t ceiling_quota_us, int64_t emulator_quota_us,
                bool emulator_explicit, CpuTune& cputune, Explanation& explanation) {
  cputune.global_period_us = period_us;
  cputune.global_quota_us = ceiling_quota_us;
  cputune.period_us.reset();
  cputune.quota_us.reset();
  cputune.emulator_period_us.reset();
  cputune.emulator_quota_us.reset();
  explanation.Add(
      "cputune/global_quota",
      absl::StrCat("pod CPU ceiling ", FormatMilli(QuotaToMilliCpu(ceiling_quota_us, period_us))),
      "the whole domain (vCPUs, emulator, I/O threads) is held to the pod's limit",
      absl::StrCat(ceiling_quota_us, " µs per ", period_us, " µs"));

  // Without an explicit request the emulator never takes more than half.
  const int64_t emulator =
      emulator_explicit ? emulator_quota_us : std::min(emulator_quota_us, ceiling_quota_us / 2);
  const int64_t vcpu_quota = std::min(period_us, (ceiling_quota_us - emulator) / vcpus);
  if (emulator < kMinQuotaUs || vcpu_quota < kMinQuotaUs) {
    explanation.Warn(absl::StrCat(
        "CPU limit ", FormatMilli(QuotaToMilliCpu(ceiling_quota_us, period_us)),
        " is too small to split between ", vcpus, " vCPUs and the emulator (each needs at least ",
        kMinQuotaUs, " µs per period); only the global ceiling is set"));
    return;
  }
  cputune.period_us = period_us;
  cputune.quota_us = vcpu_quota;
  cputune.emulator_period_us = period_us;
  cputune.emulator_quota_us = emulator;
  // mapper/startup_limits.h: the server applies it once QEMU runs.
  explanation.Add("cputune/emulator_quota (applied live after start)",
                  emulator_explicit ? absl::StrCat("annotation ", kEmulatorCpuAnnotation)
                                    : "spec.overhead CPU, else the node default emulator CPU",
                  emulator_explicit ? "as requested" : "at most half of the ceiling",
                  absl::StrCat(emulator, " µs"));
  explanation.Add(
      "cputune/quota",
      absl::StrCat("ceiling ", ceiling_quota_us, " µs, emulator ", emulator, " µs, ", vcpus,
                   " vCPUs"),
      "min(period, floor((ceiling − emulator) / vCPUs)); vCPUs × quota + emulator ≤ "
      "ceiling",
      absl::StrCat(vcpu_quota, " µs per vCPU (", vcpus, " × ", vcpu_quota, " + ", emulator, " = ",
                   vcpus * vcpu_quota + emulator, " ≤ ", ceiling_quota_us, ")"));
}

}  // namespace

absl::StatusOr<CpuPlan> PlanCpu(const PodSandboxInput& input, const LinuxResources& limits,
                                const NodeConfig& node, Explanation& explanation) {
  const int64_t period_us = limits.cpu_period_us > 0 ? limits.cpu_period_us : kDefaultQuotaPeriodUs;
  if (period_us < kMinPeriodUs || period_us > kMaxPeriodUs) {
    return absl::InvalidArgumentError(absl::StrCat("cpu_period ", period_us, " µs is outside [",
                                                   kMinPeriodUs, ", ", kMaxPeriodUs, "]"));
  }
  CpuPlan plan;
  absl::StatusOr<int> vcpus = PlanVcpus(input, limits, period_us, node, explanation);
  if (!vcpus.ok()) return vcpus.status();
  plan.vcpus = *vcpus;

  // Shares: the pod's plus the overhead's, in the host's unit.
  const int64_t shares = SaturatingAdd(limits.cpu_shares, input.overhead.cpu_shares);
  if (shares > 0) {
    const int64_t v1 = std::clamp(shares, kMinShares, kMaxShares);
    if (node.cgroup_version == 2) {
      plan.cputune.shares = SharesToWeight(v1);
      explanation.Add("cputune/shares", absl::StrCat("cpu_shares ", v1),
                      "cgroup v2: weight = 1 + ((shares − 2) × 9999) / 262142 (kubelet, runc)",
                      absl::StrCat(*plan.cputune.shares));
    } else {
      plan.cputune.shares = v1;
      explanation.Add(
          "cputune/shares",
          absl::StrCat("cpu_shares ", limits.cpu_shares, " + overhead ", input.overhead.cpu_shares),
          "cgroup v1: kubelet's shares, clamped to [2, 262144]", absl::StrCat(v1));
    }
  }

  // Checked even without a limit: a bad annotation is an error either way.
  absl::StatusOr<std::optional<int64_t>> emulator_milli =
      RequestedEmulatorMilli(input.annotations, node.min_emulator_milli, node.max_emulator_milli);
  if (!emulator_milli.ok()) return emulator_milli.status();
  if (limits.HasCpuLimit()) {
    const bool explicit_request = emulator_milli->has_value();
    int64_t emulator_quota = MilliCpuToQuota(
        explicit_request ? **emulator_milli : node.default_emulator_milli, period_us);
    int64_t ceiling = limits.cpu_quota_us;
    if (input.overhead.HasCpuLimit()) {
      const int64_t overhead_quota = SaturatingMulDiv(
          input.overhead.cpu_quota_us, period_us,
          input.overhead.cpu_period_us > 0 ? input.overhead.cpu_period_us : kDefaultQuotaPeriodUs);
      ceiling = SaturatingAdd(ceiling, overhead_quota);
      // The declared overhead is the VMM's CPU budget: it is what the
      // emulator threads get, unless the pod asks otherwise.
      if (!explicit_request) emulator_quota = overhead_quota;
      explanation.Add("pod CPU ceiling",
                      absl::StrCat("limit quota ", limits.cpu_quota_us, " µs + overhead quota ",
                                   overhead_quota, " µs"),
                      "spec.overhead is the VMM's budget: added to the ceiling, given to the "
                      "emulator threads",
                      absl::StrCat(ceiling, " µs"));
    }
    if (explicit_request && SaturatingAdd(emulator_quota, plan.vcpus * kMinQuotaUs) > ceiling) {
      return absl::InvalidArgumentError(absl::StrCat(
          "annotation ", kEmulatorCpuAnnotation, "=", **emulator_milli, "m leaves less than ",
          kMinQuotaUs, " µs per period for each of ", plan.vcpus, " vCPUs under the CPU limit ",
          FormatMilli(QuotaToMilliCpu(ceiling, period_us))));
    }
    ceiling = std::min(ceiling, kMaxQuotaUs);
    SplitQuota(plan.vcpus, period_us, ceiling, emulator_quota, explicit_request, plan.cputune,
               explanation);
  } else {
    explanation.Add("cputune quotas", "no CPU limit", "shares only; no CFS quota is set", "none");
  }
  if (absl::Status s = PlanPinning(limits, plan.vcpus, plan.cputune, explanation); !s.ok())
    return s;
  return plan;
}

}  // namespace vmmap
