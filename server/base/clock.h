// Time as components read it, so that tests can hold it still or step it
// instead of sleeping and hoping the machine was fast enough.
//
// Two readings because they answer different questions: SteadyNow() for
// intervals (cache freshness, how long a partial line has waited), which must
// never jump; WallNow() for timestamps shown to kubelet (CRI stats and logs).
#ifndef VMMAP_SERVER_BASE_CLOCK_H_
#define VMMAP_SERVER_BASE_CLOCK_H_

#include <chrono>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace vmmap {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::steady_clock::time_point SteadyNow() const = 0;
  virtual absl::Time WallNow() const = 0;

  // The machine's clocks; a process-wide instance that is never destroyed.
  static const Clock* Real();
};

namespace clock_internal {
class RealClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point SteadyNow() const override {
    return std::chrono::steady_clock::now();
  }
  absl::Time WallNow() const override { return absl::Now(); }
};
}  // namespace clock_internal

inline const Clock* Clock::Real() {
  static const clock_internal::RealClock* const real = new clock_internal::RealClock;
  return real;
}

}  // namespace vmmap

#endif  // VMMAP_SERVER_BASE_CLOCK_H_
