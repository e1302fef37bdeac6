#!/bin/sh
# tsan-abseil.sh OUTDIR
#
# ThreadSanitizer only sees the synchronization of code it instrumented.
# Debian's abseil is not instrumented, so every absl::Mutex would look like no
# lock at all and TSan would report a race on everything it guards. This
# builds Debian's own abseil source (the installed version, with Debian's
# patches, so the ABI and SONAMEs are the same) with -fsanitize=thread, only
# the synchronization library and what it links, into OUTDIR/lib. Run
# TSan binaries with LD_LIBRARY_PATH=OUTDIR/lib: the loader then picks these
# over the system's copies for every user, gRPC included.
#
# The source comes through apt-get source with a private source list (the
# system's apt configuration is not touched). Idempotent: a finished OUTDIR
# (OUTDIR/lib/.done naming the version) is reused.
set -eu

OUTDIR=${1:?usage: tsan-abseil.sh OUTDIR}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
ABSL_VERSION=$(dpkg-query -W -f='${Version}' libabsl-dev)
if [ -f "$OUTDIR/lib/.done" ] && [ "$(cat "$OUTDIR/lib/.done")" = "$ABSL_VERSION" ]; then
    exit 0
fi

SRC="$OUTDIR/src"
rm -rf "$SRC" "$OUTDIR/lib"
mkdir -p "$SRC/lists/partial" "$SRC/parts"
# Source entries for the archives this machine's apt already uses (its own
# mirror configuration, deb822 or one-line), never a hard-coded host.
: > "$SRC/sources.list"
if [ -f /etc/apt/sources.list ]; then
    sed -n 's/^deb \(.*\)$/deb-src \1/p' /etc/apt/sources.list > "$SRC/sources.list"
fi
for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    sed 's/^Types:.*$/Types: deb-src/' "$f" > "$SRC/parts/$(basename "$f")"
done
for f in /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -n 's/^deb \(.*\)$/deb-src \1/p' "$f" > "$SRC/parts/$(basename "$f")"
done
APT="apt-get -qq -o Dir::Etc::SourceList=$SRC/sources.list -o Dir::Etc::SourceParts=$SRC/parts -o Dir::State::Lists=$SRC/lists"
$APT update
(cd "$SRC" && $APT source "abseil=$ABSL_VERSION" >/dev/null 2>&1)
TREE=$(find "$SRC" -maxdepth 1 -type d -name 'abseil-*' | head -n 1)
[ -n "$TREE" ] || { echo "tsan-abseil.sh: apt-get source abseil=$ABSL_VERSION gave no tree" >&2; exit 1; }

cmake -S "$TREE" -B "$SRC/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_STANDARD=17 \
    -DBUILD_SHARED_LIBS=ON -DBUILD_TESTING=OFF -DABSL_PROPAGATE_CXX_STD=ON \
    -DCMAKE_CXX_FLAGS="-fsanitize=thread" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" >/dev/null
cmake --build "$SRC/build" --target synchronization -j "$(nproc)" >/dev/null
mkdir -p "$OUTDIR/lib"
find "$SRC/build" -name 'libabsl_*.so.*' -exec cp -P {} "$OUTDIR/lib/" \;
ls "$OUTDIR/lib/libabsl_synchronization.so.$(echo "$ABSL_VERSION" | sed 's/\..*//')" >/dev/null
rm -rf "$SRC"
echo "$ABSL_VERSION" > "$OUTDIR/lib/.done"
echo "tsan-abseil.sh: $OUTDIR/lib"
