#!/usr/bin/env bash
# One command: install what is missing, build, and run every test.
#   1. the full build with ctest (unit, golden, property, CLI, libvirt and
#      end-to-end tests that boot real QEMU guests);
#   2. the pure mapper tests again under AddressSanitizer and UBSan.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
ctest --test-dir "$root/build" --output-on-failure --timeout 900 -j 2

# Sanitizers: the mapper is where untrusted input is parsed.
asan="$root/build-asan"
cmake -S "$root" -B "$asan" -DCMAKE_BUILD_TYPE=Debug -DVMMAP_SANITIZE=ON >/dev/null
cmake --build "$asan" -j "$(nproc)" --target mapper_test
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir "$asan" --output-on-failure -R '^(Quantity|Kubelet|PodManifest|Vcpu|CpuSplit|Cpuset|Memory|Partition|Identity|EffectiveLimits|Annotations|MappingProperty)'
