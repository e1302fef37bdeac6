#!/usr/bin/env bash
# Issue 11's start-path figures in one run (builds nothing):
#   1. pod start path: RunPodSandbox + CreateContainer + StartContainer against
#      `vmmap serve` (embedded QEMU driver, the product default) vs. the floors:
#      (b) libvirt starting a minimal domain (no cputune/memtune) of the same
#      guest, (a) a bare qemu-system-x86_64 with the same kernel/initrd/memory
#      (first serial byte and guest userspace); median, p90 and ratios;
#   2. vmmap-serve VmRSS idle and with 50 defined (not started) pods.
#
#   bench/start_path.sh BUILD_DIR [--pods N] [--rss-pods M] [--bisect-rounds R] [--keep-work-dir]
#
# Needs root, libvirt 9 + QEMU (TCG is enough), virsh, a C compiler (memlock
# shim), linux-image-cloud-amd64, busybox-static and cpio (guest bundle): the
# same as the e2e tests. Boots real QEMU processes; everything it creates
# (domains, /var/tmp/vmmap-e2e-<pid>) is removed before it exits.
set -euo pipefail
build=${1:?usage: start_path.sh BUILD_DIR [--pods N] [--rss-pods M] [--bisect-rounds R] [--keep-work-dir]}
shift
bench=$build/bench/vmmap_start_path_bench
[[ -x $bench ]] || { echo "error: $bench not found; build it: make -C $build vmmap_start_path_bench" >&2; exit 2; }
[[ -x $build/vmmap && -x $build/vmmap-serve ]] || { echo "error: $build/vmmap or vmmap-serve missing" >&2; exit 2; }
command -v virsh >/dev/null || { echo "error: virsh not installed (libvirt-clients)" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "error: run as root (QEMU cgroups, /var/tmp work dir)" >&2; exit 2; }
echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) CPUs, $(virsh --version 2>/dev/null | sed 's/^/libvirt /'), $(qemu-system-x86_64 --version | head -n1)"
exec "$bench" "$@"
