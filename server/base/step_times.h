// Where one CRI call spends its time, step by step, as one debug log line:
//
//   StepTimes steps("StartContainer", id);
//   ...; steps.Mark("start_domain");
//   ...; steps.Mark("limits");
//   // destructor: "steps StartContainer <id>: start_domain=512.31 limits=1.20 total=513.51 (ms)"
//
// Each Mark ends the step that began at the previous Mark (or construction)
// and names it. The line is written only when debug logging is on, and only
// for a call that got to its end (Done()), so a failed call logs nothing
// half-timed. bench/start_path.sh reads these lines for its per-step table;
// the format (space-separated name=milliseconds) is part of that contract.
//
// Not thread-safe: one instance belongs to one call on one thread.
#ifndef VMMAP_SERVER_BASE_STEP_TIMES_H_
#define VMMAP_SERVER_BASE_STEP_TIMES_H_

#include <chrono>
#include <string>

#include "absl/strings/string_view.h"

namespace vmmap {

class StepTimes {
 public:
  StepTimes(absl::string_view call, absl::string_view object);
  StepTimes(const StepTimes&) = delete;
  StepTimes& operator=(const StepTimes&) = delete;
  ~StepTimes() = default;

  // Ends the current step as `step` (no spaces or '=').
  void Mark(absl::string_view step);
  // The call succeeded for `object` (e.g. the id made by it): logs the line.
  void Done(absl::string_view object);
  void Done() { Done(object_); }

 private:
  using Clock = std::chrono::steady_clock;
  const bool enabled_;
  std::string call_;
  std::string object_;
  std::string steps_;  // " name=ms" each
  Clock::time_point begin_;
  Clock::time_point last_;
};

}  // namespace vmmap

#endif  // VMMAP_SERVER_BASE_STEP_TIMES_H_
