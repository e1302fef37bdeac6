#!/bin/sh
# libvirtd.sh start|stop|status STATEDIR
#
# TEST HARNESS ONLY. Starts virtlogd and libvirtd (daemonized, no systemd needed) for
# qemu:///system e2e tests, with the memlock shim preloaded into libvirtd so libvirt's
# prlimit(QEMU pid, RLIMIT_MEMLOCK, hard_limit) does not fail with EPERM in sandboxes
# without CAP_SYS_RESOURCE. `start` also builds, into STATEDIR:
#   STATEDIR/libvmmap-memlock-shim.so     the shim
#   STATEDIR/qemu-system-x86_64-shim      wrapper to use as the domain's <emulator>
#                                         (preloads the shim into QEMU: mlockall no-op)
# and waits until `virsh -c qemu:///system version` answers. Daemons that were already
# running are left alone (a warning is printed if a running libvirtd lacks the shim);
# `stop` stops only the daemons this script started (pids recorded in STATEDIR).
# Idempotent: `start` twice is fine, `stop` when nothing was started is fine.
#
# STATEDIR must be traversable by user libvirt-qemu (QEMU's user under qemu:///system),
# so it is chmod 0755; do not put it under /root (mode 0700).
#
# --- Using the shim with qemu:///embed?root=DIR (no daemon) -------------------------
# The embedded QEMU driver runs inside the process that opens the connection, so that
# process itself must have the shim preloaded (it is the one calling prlimit on QEMU):
#   LD_PRELOAD=STATEDIR/libvmmap-memlock-shim.so \
#       virsh -c 'qemu:///embed?root=/var/tmp/vmmap-embed' start NAME
#   LD_PRELOAD=STATEDIR/libvmmap-memlock-shim.so ./build/vmmap-test ...   # our binary
# (For a gtest binary, set LD_PRELOAD when exec'ing it; setting it from inside an
# already-running process has no effect.) Verified here: without the shim,
#   error: internal error: Process exited prior to exec: libvirt:  error : cannot limit
#   locked memory of process N to 536870912: Operation not permitted
# with it the domain runs (guest printed VMMAP-CPUS-ONLINE=0-1). libvirt passes
# LD_PRELOAD through to QEMU, so QEMU gets the mlockall no-op too; use the wrapper
# emulator anyway to make it explicit. Domains started through an embed connection
# are owned by that process. Embed mode ran QEMU as the caller (root) here.
# -------------------------------------------------------------------------------------
set -eu

ACTION=${1:-}
STATEDIR=${2:-}
if [ -z "$ACTION" ] || [ -z "$STATEDIR" ]; then
    echo "usage: libvirtd.sh start|stop|status STATEDIR" >&2
    exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
URI=qemu:///system

running_pid() {  # running_pid COMM -> pid of a running daemon with that comm, or empty
    for p in $(pgrep -x "$1" 2>/dev/null || true); do echo "$p"; return 0; done
}

ours_alive() {  # ours_alive NAME -> true if the pid we recorded still runs NAME
    f="$STATEDIR/$1.started-pid"
    [ -f "$f" ] || return 1
    p=$(cat "$f")
    [ -n "$p" ] && [ -r "/proc/$p/comm" ] && [ "$(cat "/proc/$p/comm")" = "$1" ]
}

wait_virsh() {
    i=0
    while [ $i -lt 150 ]; do  # 15 s
        if virsh -c "$URI" version >/dev/null 2>&1; then return 0; fi
        sleep 0.1; i=$((i + 1))
    done
    echo "libvirtd.sh: virsh -c $URI version did not answer within 15 s" >&2
    return 1
}

start_daemon() {  # start_daemon NAME ARGS... (NAME daemonizes itself with -d -p PIDFILE)
    name=$1; shift
    if ours_alive "$name"; then return 0; fi
    if p=$(running_pid "$name") && [ -n "$p" ]; then
        echo "libvirtd.sh: $name already running (pid $p), not started by us" >&2
        return 0
    fi
    rm -f "$STATEDIR/$name.pid"
    "$@" -d -p "$STATEDIR/$name.pid"
    i=0
    while [ ! -s "$STATEDIR/$name.pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    if [ ! -s "$STATEDIR/$name.pid" ]; then
        echo "libvirtd.sh: $name did not write $STATEDIR/$name.pid" >&2
        return 1
    fi
    cp "$STATEDIR/$name.pid" "$STATEDIR/$name.started-pid"
}

stop_daemon() {
    name=$1
    f="$STATEDIR/$name.started-pid"
    [ -f "$f" ] || return 0
    if ours_alive "$name"; then
        p=$(cat "$f")
        kill -TERM "$p" 2>/dev/null || true
        i=0
        while [ -d "/proc/$p" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
        if [ -d "/proc/$p" ]; then kill -KILL "$p" 2>/dev/null || true; fi
    fi
    rm -f "$f" "$STATEDIR/$name.pid"
}

case "$ACTION" in
start)
    mkdir -p "$STATEDIR"
    STATEDIR=$(cd "$STATEDIR" && pwd)
    chmod 0755 "$STATEDIR"
    SHIM="$STATEDIR/libvmmap-memlock-shim.so"
    if [ ! -f "$SHIM" ] || [ "$HERE/memlock-shim.c" -nt "$SHIM" ]; then
        "$HERE/build-shim.sh" "$STATEDIR" >/dev/null
    fi
    "$HERE/qemu-shim-wrapper.sh" "$SHIM" "$STATEDIR/qemu-system-x86_64-shim" >/dev/null
    mkdir -p /run/libvirt /var/log/libvirt/qemu /var/lib/libvirt/qemu
    start_daemon virtlogd virtlogd
    # libvirt passes LD_PRELOAD on to QEMU as well (observed with 9.0); the wrapper
    # emulator preloads it explicitly anyway.
    start_daemon libvirtd env LD_PRELOAD="$SHIM" VMMAP_SHIM_DEBUG="${VMMAP_SHIM_DEBUG:-0}" libvirtd
    if p=$(running_pid libvirtd) && [ -n "$p" ] && \
       ! tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -q 'libvmmap-memlock-shim'; then
        echo "libvirtd.sh: WARNING: running libvirtd (pid $p) has no memlock shim;" \
             "domains with <memtune><hard_limit> will fail with EPERM in this sandbox" >&2
    fi
    wait_virsh
    echo "libvirtd.sh: $URI ready; shim=$SHIM emulator=$STATEDIR/qemu-system-x86_64-shim"
    ;;
stop)
    [ -d "$STATEDIR" ] || exit 0
    stop_daemon libvirtd
    stop_daemon virtlogd
    ;;
status)
    for n in virtlogd libvirtd; do
        if ours_alive "$n"; then echo "$n: running (started by us, pid $(cat "$STATEDIR/$n.started-pid"))"
        elif p=$(running_pid "$n") && [ -n "$p" ]; then echo "$n: running (pid $p, not ours)"
        else echo "$n: not running"; fi
    done
    ;;
*)
    echo "usage: libvirtd.sh start|stop|status STATEDIR" >&2
    exit 2
    ;;
esac
