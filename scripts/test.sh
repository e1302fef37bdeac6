#!/usr/bin/env bash
# One command: install what is missing, build, and run every test. CI runs
# exactly this (.ci/run). Stages, each timed in the summary at the end:
#   deps       Debian packages (scripts/install-deps.sh)
#   format     every C/C++ file follows .clang-format (scripts/format.sh --check)
#   build      the normal build (build/)
#   unit       every ctest test except the ones that boot guests (label e2e)
#   e2e        the end-to-end tests: real `vmmap serve`, libvirt and QEMU/TCG
#              guests, one ctest entry per suite (a suite shares one guest)
#   (background) the two sanitizer trees build while unit and e2e run
#   sanwait    waiting for those builds, if they are not done yet
#   asan       every unit and server test again under AddressSanitizer + UBSan
#              (build-asan/). Not the e2e tests: they would double the slowest
#              stage, and ASan refuses to start vmmap-serve with the memlock
#              shim LD_PRELOADed ahead of its runtime (the e2e harness needs
#              that shim in this sandbox); what they drive is covered by the
#              server tests on libvirt's test driver.
#   fuzz       each libFuzzer target for 20 s from its seed corpus
#              (scripts/fuzz.sh; clang, ASan + UBSan)
#   tsan       the server tests (state store, recovery, stats collector, log
#              forwarder, image store, libvirt client) under ThreadSanitizer
#              (build-tsan/), with an instrumented abseil (see
#              tests/harness/tsan-abseil.sh) so absl::Mutex is understood.
# Nothing here asserts the machine's speed: the suite must pass on a loaded
# 2-core machine (it is checked under `stress-ng --cpu 2`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
jobs="$(nproc)"
logs="$root/build-logs"

declare -a stage_names=() stage_seconds=()
# Stops a process and everything it started, by pid.
kill_tree() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}
summary() {
  local status=$?
  if [[ -n "${sanitizer_pid:-}" ]] && kill -0 "$sanitizer_pid" 2>/dev/null; then
    kill_tree "$sanitizer_pid"
  fi
  echo
  echo "== scripts/test.sh timing (seconds) =="
  local total=0
  for i in "${!stage_names[@]}"; do
    printf '  %-10s %6d\n' "${stage_names[$i]}" "${stage_seconds[$i]}"
    total=$((total + stage_seconds[$i]))
  done
  printf '  %-10s %6d\n' total "$total"
  if [[ -f "$logs/sanitizer-builds.times" ]]; then
    while read -r name seconds; do
      printf '  %-10s %6d  (in the background, overlapping unit and e2e)\n' "$name" "$seconds"
    done <"$logs/sanitizer-builds.times"
  fi
  if ((status != 0)); then echo "  FAILED in stage: ${current_stage:-?} (exit $status)"; fi
}
trap summary EXIT

current_stage=""
stage() {  # stage NAME COMMAND...
  current_stage="$1"
  shift
  echo "== stage $current_stage =="
  local start=$SECONDS
  "$@"
  stage_names+=("$current_stage")
  stage_seconds+=($((SECONDS - start)))
}

stage deps "$root/scripts/install-deps.sh"
stage format "$root/scripts/format.sh" --check
stage build "$root/scripts/build.sh"

# The sanitizer trees build in the background while the e2e tests run: the
# guests mostly wait, and nothing in the suite depends on the machine being
# idle. Their output goes to build-logs/; their time is reported on its own.
mkdir -p "$logs"
rm -f "$logs/sanitizer-builds.times"
asan_dir="$root/build-asan"
tsan_dir="$root/build-tsan"
# The server tests only; targets another folder has not added yet are skipped.
tsan_wanted=(server_test stats_collector_test console_log_forwarder_test image_store_test
             libvirt_hypervisor_test libvirt_reconnect_test)
sanitizer_builds() {
  local start=$SECONDS
  cmake -S "$root" -B "$asan_dir" -DCMAKE_BUILD_TYPE=Debug -DVMMAP_SANITIZE=ON \
    -DVMMAP_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build "$asan_dir" -j "$jobs"
  echo "asan-build $((SECONDS - start))" >"$logs/sanitizer-builds.times"
  start=$SECONDS
  "$root/tests/harness/tsan-abseil.sh" "$tsan_dir/tsan-abseil"
  cmake -S "$root" -B "$tsan_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVMMAP_TSAN=ON \
    -DVMMAP_BUILD_BENCHMARKS=OFF >/dev/null
  local available targets=()
  available="$(cmake --build "$tsan_dir" --target help)"
  for t in "${tsan_wanted[@]}"; do
    if grep -qx "\.\.\. $t" <<<"$available"; then targets+=("$t"); fi
  done
  cmake --build "$tsan_dir" -j "$jobs" --target "${targets[@]}"
  printf '%s\n' "${targets[@]}" >"$tsan_dir/tsan-targets"
  echo "tsan-build $((SECONDS - start))" >>"$logs/sanitizer-builds.times"
}
sanitizer_builds >"$logs/sanitizer-builds.log" 2>&1 &
sanitizer_pid=$!

stage unit ctest --test-dir "$root/build" --output-on-failure --timeout 900 -j "$jobs" -LE e2e
# Serial: the suites boot guests and share the node partition.
stage e2e ctest --test-dir "$root/build" --output-on-failure -L e2e

wait_sanitizer_builds() {
  if ! wait "$sanitizer_pid"; then
    tail -n 60 "$logs/sanitizer-builds.log"
    echo "sanitizer builds failed; full log: $logs/sanitizer-builds.log" >&2
    return 1
  fi
}
stage sanwait wait_sanitizer_builds

# Sanitizer reports go to files (log_path: one <prefix>.<pid> per process
# that reports), not to stderr, where a test that captures a child's stderr,
# or ctest's truncated output, could lose them; they are printed whenever
# there are any, and a stage that fails says where they are.
print_sanitizer_reports() {  # print_sanitizer_reports DIR
  local report
  for report in "$1"/*; do
    [[ -f "$report" ]] || continue
    echo "---- sanitizer report $report ----"
    cat "$report"
  done
}

asan_stage() {
  local reports="$asan_dir/sanitizer-reports" failed=0
  rm -rf "$reports" && mkdir -p "$reports"
  ASAN_OPTIONS="detect_leaks=1:log_path=$reports/asan" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan" \
    LSAN_OPTIONS="suppressions=$root/tests/harness/lsan.supp:print_suppressions=0" \
    ctest --test-dir "$asan_dir" --output-on-failure --timeout 900 -j "$jobs" -LE e2e || failed=1
  print_sanitizer_reports "$reports"
  if ((failed)); then echo "asan stage failed; sanitizer reports (if any) are in $reports" >&2; fi
  return "$failed"
}
stage asan asan_stage

tsan_stage() {
  local reports="$tsan_dir/sanitizer-reports" failed=0 t bin
  rm -rf "$reports" && mkdir -p "$reports"
  while read -r t; do
    bin="$(find "$tsan_dir/tests" -type f -name "$t" -perm -u+x | head -n 1)"
    echo "-- tsan: $t"
    LD_LIBRARY_PATH="$tsan_dir/tsan-abseil/lib" \
      TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/harness/tsan.supp:log_path=$reports/$t" \
      "$bin" --gtest_brief=1 || failed=1
  done <"$tsan_dir/tsan-targets"
  print_sanitizer_reports "$reports"
  if ((failed)); then echo "tsan stage failed; ThreadSanitizer reports (if any) are in $reports" >&2; fi
  return "$failed"
}
stage tsan tsan_stage

stage fuzz "$root/scripts/fuzz.sh" 20
