// The e2e harness (tests/e2e/harness.h: guest bundle, memlock shims, a
// `vmmap serve` process, CRI client) as the benches that boot guests use it,
// with the names they all take from it.
#ifndef VMMAP_BENCH_E2E_HARNESS_H_
#define VMMAP_BENCH_E2E_HARNESS_H_

#include "tests/e2e/harness.h"

namespace vmmap::bench {

using e2e::Context;
using e2e::GetFixtures;
using e2e::ReadFileOrEmpty;
using e2e::ServerOptions;
using e2e::ServerProcess;

}  // namespace vmmap::bench

#endif  // VMMAP_BENCH_E2E_HARNESS_H_
