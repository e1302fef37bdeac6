#include "server/base/step_times.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "server/base/log.h"

namespace vmmap {
namespace {

std::string Millis(std::chrono::steady_clock::duration d) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", std::chrono::duration<double, std::milli>(d).count());
  return text;
}

}  // namespace

StepTimes::StepTimes(absl::string_view call, absl::string_view object)
    : enabled_(LogEnabled(LogLevel::kDebug)), begin_(Clock::now()), last_(begin_) {
  if (!enabled_) return;
  call_ = std::string(call);
  object_ = std::string(object);
}

void StepTimes::Mark(absl::string_view step) {
  if (!enabled_) return;
  const Clock::time_point now = Clock::now();
  absl::StrAppend(&steps_, " ", step, "=", Millis(now - last_));
  last_ = now;
}

void StepTimes::Done(absl::string_view object) {
  if (!enabled_) return;
  WriteLogLine(LogLevel::kDebug, absl::StrCat("steps ", call_, " ", object, ":", steps_,
                                              " total=", Millis(Clock::now() - begin_), " (ms)"));
}

}  // namespace vmmap
