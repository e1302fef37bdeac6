#include "mapper/kubelet_math.h"

#include <algorithm>
#include <limits>

namespace vmmap {
int64_t SaturatingMulDiv(int64_t a, int64_t b, int64_t c) {
  if (a <= 0 || b <= 0 || c <= 0) return 0;
  __extension__ const __int128 r = static_cast<__int128>(a) * b / c;
  return r > std::numeric_limits<int64_t>::max() ? std::numeric_limits<int64_t>::max()
                                                 : static_cast<int64_t>(r);
}

int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) {
    return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return sum;
}

int64_t MilliCpuToShares(int64_t milli_cpu) {
  if (milli_cpu <= 0) return kMinShares;
  return std::max(kMinShares, SaturatingMulDiv(milli_cpu, kSharesPerCpu, kMilliCpuPerCpu));
}

int64_t MilliCpuToQuota(int64_t milli_cpu, int64_t period_us) {
  if (milli_cpu <= 0 || period_us <= 0) return 0;
  return std::max(kMinQuotaUs, SaturatingMulDiv(milli_cpu, period_us, kMilliCpuPerCpu));
}

int64_t QuotaToMilliCpu(int64_t quota_us, int64_t period_us) {
  if (quota_us <= 0 || period_us <= 0) return 0;
  // Rounded up: (q × 1000 + p − 1) / p without overflowing.
  const int64_t floor = SaturatingMulDiv(quota_us, kMilliCpuPerCpu, period_us);
  __extension__ const bool exact =
      static_cast<__int128>(floor) * period_us == static_cast<__int128>(quota_us) * kMilliCpuPerCpu;
  return exact ? floor : SaturatingAdd(floor, 1);
}

int64_t SharesToWeight(int64_t shares) {
  shares = std::clamp(shares, kMinShares, kMaxShares);
  return 1 + ((shares - 2) * 9999) / 262142;
}

}  // namespace vmmap
