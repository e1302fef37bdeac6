// What every plan the mapper produces must keep (mapper/domain_spec.h),
// checked by the fuzzers that reach the planner; a violation aborts.
#ifndef VMMAP_TESTS_FUZZ_PLAN_INVARIANTS_H_
#define VMMAP_TESTS_FUZZ_PLAN_INVARIANTS_H_

#include <cstdlib>

#include "mapper/domain_spec.h"
#include "mapper/domain_xml.h"

namespace vmmap::fuzz {

inline void CheckPlanInvariants(const DomainSpec& s) {
  if (s.vcpus < 1) abort();
  const CpuTune& t = s.cputune;
  if (t.quota_us && t.emulator_quota_us && t.global_quota_us &&
      s.vcpus * *t.quota_us + *t.emulator_quota_us > *t.global_quota_us) {
    abort();
  }
  if (s.hard_limit_kib && *s.hard_limit_kib < s.memory_kib) abort();
  if (s.memory_locked && !s.hard_limit_kib) abort();
  if (!RenderDomainXml(s).ok()) abort();  // a valid plan always renders
}

}  // namespace vmmap::fuzz

#endif  // VMMAP_TESTS_FUZZ_PLAN_INVARIANTS_H_
