#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang + ASan + UBSan) and runs each
# for SECONDS (default 20) from its seed corpus in tests/fuzz/corpus/<name>.
#   scripts/fuzz.sh              # every fuzzer, 20 s each (what CI runs)
#   scripts/fuzz.sh 600          # every fuzzer, 10 min each (the hour run)
#   scripts/fuzz.sh 3600 manifest_fuzz   # one fuzzer for an hour
# New inputs go to a scratch corpus under the build dir, never into the repo;
# a crash leaves its input in build-fuzz/artifacts/. Every target runs even
# when an earlier one crashed (a long run should cover them all); the script
# fails at the end if any did.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-20}"
shift || true
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
cmake -S "$root/tests/fuzz" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(cd "$root/tests/fuzz" && ls *_fuzz.cc | sed 's/\.cc$//')
fi
mkdir -p "$build/artifacts"
failed=()
for t in "${targets[@]}"; do
  scratch="$build/corpus/$t"
  mkdir -p "$scratch"
  log="$build/$t.log"
  status=ok
  if ! "$build/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -artifact_prefix="$build/artifacts/$t-" -print_final_stats=1 \
      "$scratch" "$root/tests/fuzz/corpus/${t%_fuzz}" >"$log" 2>&1; then
    echo "fuzz: $t FAILED (input in $build/artifacts/, log $log):" >&2
    tail -40 "$log" >&2
    failed+=("$t")
    status=FAILED
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  echo "fuzz: $t $status: $runs inputs in ${seconds}s, coverage $cov edges, $ft features," \
    "corpus $(ls "$scratch" | wc -l) new, crashes $(ls "$build/artifacts" | grep -c "^$t-" || true)"
done
if ((${#failed[@]} > 0)); then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
