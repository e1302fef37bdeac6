// Kubelet's CPU arithmetic, reproduced bit for bit so that a VM pod gets the
// same numbers a runc pod would (pkg/kubelet/cm/helpers_linux.go).
#ifndef VMMAP_MAPPER_KUBELET_MATH_H_
#define VMMAP_MAPPER_KUBELET_MATH_H_

#include <cstdint>

namespace vmmap {

inline constexpr int64_t kMinShares = 2;
inline constexpr int64_t kMaxShares = 262144;
inline constexpr int64_t kSharesPerCpu = 1024;
inline constexpr int64_t kMilliCpuPerCpu = 1000;
inline constexpr int64_t kDefaultQuotaPeriodUs = 100000;
inline constexpr int64_t kMinQuotaUs = 1000;  // kubelet's MinQuotaPeriod
// libvirt's accepted ranges (formatdomain "CPU Tuning").
inline constexpr int64_t kMinPeriodUs = 1000;
inline constexpr int64_t kMaxPeriodUs = 1000000;
inline constexpr int64_t kMaxQuotaUs = 17592186044415;
inline constexpr int64_t kMinWeight = 1;
inline constexpr int64_t kMaxWeight = 10000;

// Every function saturates at INT64_MAX instead of overflowing (found by
// tests/fuzz/manifest_fuzz): kubelet's int64 arithmetic would wrap, but its
// API server never lets such a pod through; `vmmap render` and CRI callers
// are not behind one.

// a + b, saturated at the int64 range.
int64_t SaturatingAdd(int64_t a, int64_t b);

// a × b / c (integer division), saturated at INT64_MAX; 0 unless a, b, c > 0.
int64_t SaturatingMulDiv(int64_t a, int64_t b, int64_t c);

// shares = max(2, milli × 1024 / 1000), integer division.
int64_t MilliCpuToShares(int64_t milli_cpu);

// quota = milli × period / 1000, floored at 1000 µs; 0 means "no limit".
int64_t MilliCpuToQuota(int64_t milli_cpu, int64_t period_us);

// The millicores a quota stands for, rounded up (inverse of MilliCpuToQuota).
int64_t QuotaToMilliCpu(int64_t quota_us, int64_t period_us);

// cgroup v2 cpu.weight from v1 shares, the formula kubelet and runc use:
// weight = 1 + ((shares − 2) × 9999) / 262142, so [2, 262144] → [1, 10000].
int64_t SharesToWeight(int64_t shares);

}  // namespace vmmap

#endif  // VMMAP_MAPPER_KUBELET_MATH_H_
