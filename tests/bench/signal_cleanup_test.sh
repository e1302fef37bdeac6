#!/usr/bin/env bash
# signal_cleanup_test.sh BUILD_DIR SOURCE_DIR
#
# The benches' hygiene (issue 11), checked from outside as an operator sees it:
#  1. `--help` prints the usage and exits 0; an unknown or malformed argument
#     exits 2; neither starts anything (no work dir, no QEMU).
#  2. vmmap_stats_bench gets SIGINT while its domains run, and SIGTERM again
#     while it is cleaning up: it exits 130 and leaves no QEMU of its work
#     dir, no cgroup directory of its domains and no work dir.
#  3. The start-path bench (bench/start_path.sh) gets SIGTERM while its first
#     pod's QEMU runs under `vmmap serve`, and SIGTERM again during its
#     cleanup: it exits non-zero and leaves no vmmap serve, no QEMU, no
#     cgroup directory of its domains and no work dir.
# Boots real QEMU (TCG); needs root. Every wait has a generous deadline and
# waits for a state, never for a time.
set -euo pipefail
build=${1:?usage: signal_cleanup_test.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: signal_cleanup_test.sh BUILD_DIR SOURCE_DIR}
stats=$build/bench/vmmap_stats_bench
start_path=$src/bench/start_path.sh
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root (QEMU cgroups, /var/tmp work dirs)"; exit 77; }
[[ -x $stats && -x $build/bench/vmmap_start_path_bench ]] || { echo "FAIL: benches not built in $build" >&2; exit 1; }

out=$(mktemp -d /tmp/bench-signal-test.XXXXXX)
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*" >&2; for f in "$out"/*.log; do [[ -f $f ]] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }; done; exit 1; }

# Pids of processes whose executable's name starts with $1 and whose command
# line contains $2 (by executable, so that no grep or shell here counts).
procs() {
  local exe_prefix=$1 needle=$2 dir exe
  for dir in /proc/[0-9]*; do
    exe=$(readlink "$dir/exe" 2>/dev/null) || continue
    [[ $(basename "$exe") == "$exe_prefix"* ]] || continue
    tr '\0' ' ' <"$dir/cmdline" 2>/dev/null | grep -qF -- "$needle" && echo "${dir#/proc/}"
  done
  return 0
}

# Cgroup directories (any controller) whose name contains $1.
cgroup_dirs() { find /sys/fs/cgroup -mindepth 1 -maxdepth 6 -type d -name "*$1*" 2>/dev/null || true; }

# Waits (up to $2 seconds) until command $1 succeeds.
wait_for() {
  local what=$1 deadline=$((SECONDS + $2))
  until eval "$what"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# Waits for process $1 to end; its exit status in $rc.
wait_exit() {
  local pid=$1
  wait_for "! kill -0 $pid 2>/dev/null" 900 || fail "pid $pid did not exit"
  rc=0
  wait "$pid" || rc=$?
}

# ---- 1. arguments
stats_dirs_before=$(ls -d /var/tmp/vmmap-stats-bench-* 2>/dev/null || true)
for bench in "$stats" "$build/bench/vmmap_start_path_bench"; do
  name=$(basename "$bench")
  "$bench" --help >"$out/help.log" 2>&1 || fail "$name --help exited $?"
  grep -q "usage:" "$out/help.log" || fail "$name --help printed no usage"
  for bad in --no-such-flag "--domains" "--domains x" "--pods" "--requests -1"; do
    [[ $name == vmmap_start_path_bench && $bad == --domains* ]] && continue
    [[ $name == vmmap_stats_bench && $bad == --pods ]] && continue
    rc=0
    # shellcheck disable=SC2086
    "$bench" $bad >"$out/bad.log" 2>&1 || rc=$?
    [[ $rc == 2 ]] || fail "$name $bad exited $rc, not 2"
  done
done
[[ $(ls -d /var/tmp/vmmap-stats-bench-* 2>/dev/null || true) == "$stats_dirs_before" ]] ||
  fail "an argument check left a stats work dir"
echo "ok 1: --help exits 0, bad arguments exit 2, nothing started"

# ---- 2. the stats bench
"$stats" --domains 2,3 --requests 2 >"$out/stats.log" 2>&1 &
pid=$!
work=/var/tmp/vmmap-stats-bench-$pid
wait_for '[[ -n $(procs qemu-system "$work") ]]' 600 || fail "the stats bench started no QEMU"
kill -INT "$pid"
wait_for 'grep -q "cleaning up" "$out/stats.log" || ! kill -0 $pid 2>/dev/null' 120 ||
  fail "the stats bench did not start cleaning up"
kill -TERM "$pid" 2>/dev/null || true  # during the cleanup (or just after it)
wait_exit "$pid"
[[ $rc == 130 ]] || fail "the stats bench exited $rc after SIGINT, not 130"
left=$(procs qemu-system "$work")
[[ -z $left ]] || fail "QEMU left running after the stats bench: $left"
[[ ! -e $work ]] || fail "$work left behind"
dirs=$(cgroup_dirs "vsb$pid-")
[[ -z $dirs ]] || fail "cgroup directories left: $dirs"
echo "ok 2: stats bench: SIGINT, SIGTERM during cleanup -> exit 130, nothing left"

# ---- 3. the start-path bench
"$start_path" "$build" --pods 1 --rss-pods 2 --bisect-rounds 0 >"$out/start.log" 2>&1 &
pid=$!  # start_path.sh execs the bench: the same pid, whose work dir is named by it
work=/var/tmp/vmmap-e2e-$pid
wait_for '[[ -n $(procs qemu-system "$work") ]]' 900 || fail "the start-path bench started no QEMU"
[[ -n $(procs vmmap "$work") ]] || fail "no vmmap serve of $work while its QEMU runs"
kill -TERM "$pid"
wait_for 'grep -q "interrupted" "$out/start.log" || ! kill -0 $pid 2>/dev/null' 600 ||
  fail "the start-path bench did not stop"
kill -TERM "$pid" 2>/dev/null || true
wait_exit "$pid"
[[ $rc != 0 ]] || fail "the interrupted start-path bench exited 0"
left=$(procs qemu-system "$work")
[[ -z $left ]] || fail "QEMU left running after the start-path bench: $left"
left=$(procs vmmap "$work")
[[ -z $left ]] || fail "vmmap serve left running after the start-path bench: $left"
[[ ! -e $work ]] || fail "$work left behind"
dirs=$(cgroup_dirs "sp$pid-")$(cgroup_dirs "floor$pid-")
[[ -z $dirs ]] || fail "cgroup directories left: $dirs"
echo "ok 3: start-path bench: SIGTERM, SIGTERM during cleanup -> exit $rc, nothing left"
