#include "mapper/kubelet_math.h"

#include <algorithm>

namespace vmmap {

int64_t MilliCpuToShares(int64_t milli_cpu) {
  if (milli_cpu <= 0) return kMinShares;
  return std::max(kMinShares, milli_cpu * kSharesPerCpu / kMilliCpuPerCpu);
}

int64_t MilliCpuToQuota(int64_t milli_cpu, int64_t period_us) {
  if (milli_cpu <= 0) return 0;
  return std::max(kMinQuotaUs, milli_cpu * period_us / kMilliCpuPerCpu);
}

int64_t QuotaToMilliCpu(int64_t quota_us, int64_t period_us) {
  if (quota_us <= 0 || period_us <= 0) return 0;
  return (quota_us * kMilliCpuPerCpu + period_us - 1) / period_us;
}

int64_t SharesToWeight(int64_t shares) {
  shares = std::clamp(shares, kMinShares, kMaxShares);
  return 1 + ((shares - 2) * 9999) / 262142;
}

}  // namespace vmmap
