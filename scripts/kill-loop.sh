#!/usr/bin/env bash
# Runs the random kill loop of tests/fault (KillLoopTest) for ROUNDS rounds
# (default 100; CI runs 20), with SEED if given (otherwise a random one, which
# the test prints). Needs a build (scripts/build.sh) and root, like the e2e
# tests. With VMMAP_E2E_LOCK=FILE it holds flock FILE while it runs, so that
# it never boots guests beside another e2e run sharing the machine.
#   scripts/kill-loop.sh            # 100 rounds, random seed
#   scripts/kill-loop.sh 100 12345  # 100 rounds, seed 12345
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
rounds="${1:-100}"
seed="${2:-}"
run=(env VMMAP_KILL_LOOP_ROUNDS="$rounds" ${seed:+VMMAP_KILL_LOOP_SEED="$seed"}
  "$build/tests/fault/fault_test" --gtest_filter='KillLoopTest.*')
if [[ -n "${VMMAP_E2E_LOCK:-}" ]]; then
  exec flock "$VMMAP_E2E_LOCK" "${run[@]}"
fi
exec "${run[@]}"
