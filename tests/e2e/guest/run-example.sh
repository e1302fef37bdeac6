#!/bin/bash
# run-example.sh [STATEDIR]   (default /var/tmp/vmmap-e2e; must not be under /root)
#
# End-to-end smoke test of the guest + harness on qemu:///system (TCG), as root:
#   1. tests/harness/libvirtd.sh start STATEDIR   (virtlogd + libvirtd with memlock shim)
#   2. tests/e2e/guest/build-guest.sh STATEDIR/guest
#   3. example-domain.xml with placeholders filled in -> virsh define + start
#      (2 vCPUs, 256 MiB, hard_limit 512 MiB, <locked/>, emulator = shim wrapper)
#   4. checks: serial log has VMMAP-GUEST-BOOTED and VMMAP-CPUS-ONLINE=0-1;
#      memory.limit_in_bytes of the domain's cgroup == hard_limit; cpu quota applied
#   5. virsh shutdown -> domain must be "shut off" within 20 s (ACPI power button)
#   6. undefine; stop the daemons if this script started them
# Exit 0 and "PASS" lines on success. Idempotent (removes a leftover domain first).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
STATEDIR=${1:-/var/tmp/vmmap-e2e}
NAME=vmmap-e2e-guest
V="virsh -c qemu:///system"
HARD_KIB=524288   # must match example-domain.xml

mkdir -p "$STATEDIR"; STATEDIR=$(cd "$STATEDIR" && pwd)
STARTED=0; pgrep -x libvirtd >/dev/null 2>&1 || STARTED=1
"$ROOT/tests/harness/libvirtd.sh" start "$STATEDIR"
cleanup() {
    $V destroy "$NAME" >/dev/null 2>&1 || true
    $V undefine "$NAME" >/dev/null 2>&1 || true
    [ "$STARTED" = 1 ] && "$ROOT/tests/harness/libvirtd.sh" stop "$STATEDIR" || true
}
trap cleanup EXIT
"$HERE/build-guest.sh" "$STATEDIR/guest" >/dev/null

LOG=$STATEDIR/$NAME.serial.log
sed -e "s|@NAME@|$NAME|; s|@EMULATOR@|$STATEDIR/qemu-system-x86_64-shim|" \
    -e "s|@KERNEL@|$STATEDIR/guest/vmlinuz|; s|@INITRD@|$STATEDIR/guest/initrd.img|" \
    -e "s|@CMDLINE@|${GUEST_CMDLINE:-}|; s|@SERIAL_LOG@|$LOG|" \
    "$HERE/example-domain.xml" > "$STATEDIR/$NAME.xml"
if command -v virt-xml-validate >/dev/null; then virt-xml-validate "$STATEDIR/$NAME.xml" domain >/dev/null 2>&1 || virt-xml-validate "$STATEDIR/$NAME.xml" domain; fi
$V destroy "$NAME" >/dev/null 2>&1 || true
$V undefine "$NAME" >/dev/null 2>&1 || true
rm -f "$LOG"
$V define "$STATEDIR/$NAME.xml" >/dev/null
$V start "$NAME"

fail() { echo "FAIL: $*" >&2; [ -f "$LOG" ] && tail -n 20 "$LOG" >&2; exit 1; }
for _ in $(seq 1 120); do grep -q '^VMMAP-NPROC=' "$LOG" 2>/dev/null && break; sleep 0.5; done
grep -q '^VMMAP-GUEST-BOOTED' "$LOG" || fail "no VMMAP-GUEST-BOOTED in $LOG"
echo "PASS: $(grep -m1 '^VMMAP-GUEST-BOOTED' "$LOG" | tr -d '\r')"
grep -q '^VMMAP-CPUS-ONLINE=0-1' "$LOG" || fail "guest does not see 2 CPUs: $(grep CPUS-ONLINE "$LOG")"
echo "PASS: $(grep -m1 '^VMMAP-CPUS-ONLINE=' "$LOG" | tr -d '\r') $(grep -m1 '^VMMAP-NPROC=' "$LOG" | tr -d '\r')"

PID=$(cat "/run/libvirt/qemu/$NAME.pid")
CG=/sys/fs/cgroup/memory$(grep -E '^[0-9]+:([^:]*,)?memory(,[^:]*)?:' "/proc/$PID/cgroup" | cut -d: -f3)
LIM=$(cat "$CG/memory.limit_in_bytes")
[ "$LIM" = $((HARD_KIB * 1024)) ] || fail "$CG/memory.limit_in_bytes=$LIM, want $((HARD_KIB * 1024))"
echo "PASS: $CG/memory.limit_in_bytes=$LIM == hard_limit ${HARD_KIB} KiB"
CPUCG=/sys/fs/cgroup/cpu$(grep -E '^[0-9]+:([^:]*,)?cpu(,[^:]*)?:' "/proc/$PID/cgroup" | cut -d: -f3)
CPUCG=${CPUCG%/emulator}
echo "INFO: $CPUCG/vcpu0/cpu.cfs_quota_us=$(cat "$CPUCG/vcpu0/cpu.cfs_quota_us" 2>&1 || true)"
echo "INFO: QEMU pid $PID user=$(ps -o user= -p "$PID") RLIMIT_MEMLOCK=$(awk '/Max locked/{print $4}' "/proc/$PID/limits") (shim swallowed the raise)"

T0=$(date +%s)
$V shutdown "$NAME" >/dev/null
for _ in $(seq 1 100); do [ "$($V domstate "$NAME")" = "shut off" ] && break; sleep 0.2; done
[ "$($V domstate "$NAME")" = "shut off" ] || fail "virsh shutdown: still $($V domstate "$NAME") after 20 s"
echo "PASS: virsh shutdown -> $($V domstate "$NAME" --reason) after $(( $(date +%s) - T0 )) s; $(grep -m1 VMMAP-POWEROFF "$LOG" | tr -d '\r')"
