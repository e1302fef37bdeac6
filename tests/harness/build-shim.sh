#!/bin/sh
# build-shim.sh OUTDIR -- compile memlock-shim.c into OUTDIR/libvmmap-memlock-shim.so
# TEST HARNESS ONLY (see memlock-shim.c). Needs a C compiler (Debian: gcc / build-essential).
# Idempotent; output is mode 0644 so libvirt-qemu (qemu:///system's QEMU user) can load it,
# as long as every directory on the path is traversable by that user.
set -eu
OUTDIR=${1:?usage: build-shim.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
CC=${CC:-cc}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
"$CC" -O2 -Wall -Wextra -shared -fPIC -o "$OUTDIR/libvmmap-memlock-shim.so.tmp" \
    "$HERE/memlock-shim.c" -ldl
mv -f "$OUTDIR/libvmmap-memlock-shim.so.tmp" "$OUTDIR/libvmmap-memlock-shim.so"
chmod 0644 "$OUTDIR/libvmmap-memlock-shim.so"
echo "$OUTDIR/libvmmap-memlock-shim.so"
