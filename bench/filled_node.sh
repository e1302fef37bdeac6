#!/usr/bin/env bash
# The filled node (issue 13), the figures of docs/capacity.md in one run:
#   1. memory, QEMU's memory really locked (mlockall with CAP_IPC_LOCK);
#   2. memory, locking shimmed away (demand paging: what the other e2e tests run);
#   3. CPU, guests spinning at their limits.
# Each is tests/capacity/filled_node_test (its assertions are the claims);
# this prints their tables and keeps each run's output in OUT_DIR.
#
#   bench/filled_node.sh BUILD_DIR [OUT_DIR] [LOCK_FILE]
#
# LOCK_FILE (e.g. /tmp/vmmap-e2e.lock): each run holds it (flock), so guests
# of other suites do not boot at the same time. Knobs: the VMMAP_FILL_*
# variables of tests/capacity/filled_node_test.cc. Needs root and what the
# e2e tests need (libvirt 9, QEMU, linux-image-cloud-amd64, busybox-static).
set -euo pipefail
build=${1:?usage: filled_node.sh BUILD_DIR [OUT_DIR] [LOCK_FILE]}
out=${2:-/var/tmp/vmmap-filled-node}
lock=${3:-}
test=$build/tests/capacity/filled_node_test
[[ -x $test ]] || { echo "error: $test missing: cmake --build $build --target filled_node_test" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "error: run as root (cgroups, QEMU)" >&2; exit 2; }
mkdir -p "$out"
echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) CPUs, $(free -m | awk '/^Mem:/ {print $2 " MiB"}'), $(qemu-system-x86_64 --version | head -n1), load $(cut -d' ' -f1-3 /proc/loadavg)"
run() {  # NAME FILTER [VAR=VALUE...]
    local name=$1 filter=$2; shift 2
    local cmd=(env "$@" "$test" --gtest_filter="FilledNodeTest.$filter")
    [[ -n $lock ]] && cmd=(flock "$lock" "${cmd[@]}")
    echo; echo "## $name: ${*:-defaults}"
    local rc=0
    "${cmd[@]}" > "$out/$name.log" 2>&1 || rc=$?
    grep -E '^(#|\|)' "$out/$name.log" || true
    echo "# gtest: $(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$out/$name.log" | tr '\n' ' ') (exit $rc; log $out/$name.log)"
    return 0
}
run memory-locked MemoryBudgetEndsWherePredicted VMMAP_FILL_LOCKING=real
run memory-shim MemoryBudgetEndsWherePredicted VMMAP_FILL_LOCKING=shim
run cpu CpuBudgetHoldsWithGuestsSpinning
