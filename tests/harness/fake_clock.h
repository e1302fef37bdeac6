// A Clock that moves only when the test says so (both readings together).
#ifndef VMMAP_TESTS_HARNESS_FAKE_CLOCK_H_
#define VMMAP_TESTS_HARNESS_FAKE_CLOCK_H_

#include <chrono>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/base/clock.h"

namespace vmmap {

// Thread-safe: components read it from their own threads.
class FakeClock final : public Clock {
 public:
  // Starts at an arbitrary but realistic wall time, so CRI timestamps parse.
  FakeClock() : wall_(absl::FromUnixSeconds(1'800'000'000)) {}

  std::chrono::steady_clock::time_point SteadyNow() const override {
    absl::MutexLock lock(&mu_);
    return steady_;
  }
  absl::Time WallNow() const override {
    absl::MutexLock lock(&mu_);
    return wall_;
  }
  void Advance(std::chrono::nanoseconds d) {
    absl::MutexLock lock(&mu_);
    steady_ += d;
    wall_ += absl::FromChrono(d);
  }

 private:
  mutable absl::Mutex mu_;
  std::chrono::steady_clock::time_point steady_ ABSL_GUARDED_BY(mu_) =
      std::chrono::steady_clock::time_point(std::chrono::hours(1000));
  absl::Time wall_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmmap

#endif  // VMMAP_TESTS_HARNESS_FAKE_CLOCK_H_
