#!/bin/sh
# build-guest.sh OUTDIR
#
# Builds a tiny direct-kernel-boot test guest for vmmap's e2e tests:
#   OUTDIR/vmlinuz     Debian's cloud kernel (newest /boot/vmlinuz-*-cloud-amd64)
#   OUTDIR/initrd.img  busybox-static initramfs (cpio -H newc | gzip) with /init
#
# Host packages needed (Debian 12): linux-image-cloud-amd64 busybox-static cpio gzip
#
# Guest kernel command line (put it in <os><cmdline>):
#   console=ttyS0            required: all VMMAP-* lines go to the serial console
#   vmmap.spin=1             start one busy loop per online CPU, forever
#   vmmap.alloc=<MiB>        after boot, allocate+touch <MiB> (file in a tmpfs),
#                            then print VMMAP-ALLOCATED=<MiB>
#   vmmap.alloc=max          ... as much as the guest can: MemAvailable - reserve
#   vmmap.alloc_reserve=<MiB> reserve kept free with vmmap.alloc=max (default 12)
#   vmmap.alloc_at=<sec>     wait <sec> seconds before allocating (default 0)
#   vmmap.heartbeat=<sec>    heartbeat period (default 5)
#   vmmap.debug=1            print loaded modules / input devices / acpid state
#   vmmap.flood=1            after boot, print VMMAP-FLOOD lines on ttyS0 forever
#   vmmap.qga=0              do not start qemu-guest-agent (default 1: start it on the
#                            virtio-serial port named org.qemu.guest_agent.0, if any)
#   vmmap.qga_block=<rpcs>   start it with --block-rpcs=<rpcs> (e.g. guest-exec, as
#                            RHEL's allow-list does)
#   vmmap.mount=<tag>,<fstype>,<ro|rw>,<path>   mount a host share (vmmap's mount
#                            contract, README "Volumes"): <path> percent-encoded
#                            (%XX for every byte outside [A-Za-z0-9._/-]); repeatable
#   vmmap.file=<source>,<ro|rw>,<path>   after every vmmap.mount=: bind the file
#                            <source> (in the files share, /run/vmmap/files/vol<N>)
#                            onto an empty file made at <path>, read-only if ro; both
#                            percent-encoded as above; repeatable
#
# Lines printed on ttyS0 (one per line, greppable):
#   VMMAP-GUEST-BOOTED
#   VMMAP-CPUS-ONLINE=<contents of /sys/devices/system/cpu/online>
#   VMMAP-NPROC=<n>
#   VMMAP-MEMTOTAL-KB=<MemTotal from /proc/meminfo>
#   VMMAP-SPINNING=<n>                     (with vmmap.spin=1)
#   VMMAP-ALLOCATED=<MiB>                  (with vmmap.alloc=)
#   VMMAP-ALLOC-FAILED=<MiB>               (if the tmpfs write fell short)
#   VMMAP-HEARTBEAT uptime=<s> memfree_kb=<n> memavail_kb=<n>   (every few seconds)
#   VMMAP-POWEROFF                          (on ACPI power button, before poweroff)
#   VMMAP-QGA-STARTED / VMMAP-QGA-NO-PORT   (qemu-guest-agent, unless vmmap.qga=0)
#   VMMAP-MOUNTED=<path> / VMMAP-MOUNT-FAILED=<path>   (per vmmap.mount= and vmmap.file=,
#                                                       before QGA)
#
# Also in the initramfs: the virtio PCI, virtio-console and virtiofs modules, and
# Debian's /usr/sbin/qemu-ga with the shared libraries ldd lists (host package
# qemu-guest-agent).
#
# ACPI power button: the cloud kernel builds CONFIG_ACPI_BUTTON and CONFIG_INPUT_EVDEV
# as modules, so button.ko and evdev.ko are copied into the initramfs and insmod'ed;
# busybox acpid then runs /etc/acpi/PWRF/00000080 (poweroff -f) on the button event.
# The domain needs <features><acpi/></features> for this (and <apic/> to see >1 CPU).
#
# Fast (<1 s typically), idempotent, writes nothing outside OUTDIR.
set -eu

OUTDIR=${1:?usage: build-guest.sh OUTDIR}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)

# Newest cloud kernel, by version sort; or, with GUEST_KERNEL_ROOT=DIR, the newest
# DIR/boot/vmlinuz-* and DIR/lib/modules/ (an unpacked kernel package with its modules.dep,
# as scripts/install-deps.sh makes for the 9p guests: the cloud kernel has no 9p).
ROOT=${GUEST_KERNEL_ROOT:-}
if [ -n "$ROOT" ]; then
    KERNEL=$(ls -1 "$ROOT"/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)
else
    KERNEL=$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1 || true)
fi
if [ -z "$KERNEL" ] || [ ! -r "$KERNEL" ]; then
    echo "build-guest.sh: no kernel in ${ROOT:-/boot}/boot (apt-get install linux-image-cloud-amd64)" >&2
    exit 1
fi
KVER=${KERNEL##*/vmlinuz-}
MODDIR=$ROOT/lib/modules/$KVER

BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || BUSYBOX=/usr/bin/busybox
if [ ! -x "$BUSYBOX" ]; then
    echo "build-guest.sh: busybox not found (apt-get install busybox-static)" >&2
    exit 1
fi
# Must be the static build: the initramfs has no libc.
if command -v ldd >/dev/null 2>&1 && ldd "$BUSYBOX" 2>&1 | grep -q 'libc\.so'; then
    echo "build-guest.sh: $BUSYBOX is dynamically linked; install busybox-static" >&2
    exit 1
fi
command -v cpio >/dev/null 2>&1 || { echo "build-guest.sh: cpio missing (apt-get install cpio)" >&2; exit 1; }

STAGE=$(mktemp -d "$OUTDIR/.initrd-stage.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT INT TERM

mkdir -p "$STAGE/bin" "$STAGE/sbin" "$STAGE/dev" "$STAGE/proc" "$STAGE/sys" \
         "$STAGE/tmp" "$STAGE/run" "$STAGE/mnt/alloc" "$STAGE/etc/acpi/PWRF" \
         "$STAGE/lib/modules" "$STAGE/var/log" "$STAGE/var/run"
cp "$BUSYBOX" "$STAGE/bin/busybox"
# Early console node so the kernel can open /dev/console for /init before devtmpfs
# is mounted (best effort: mknod needs root; /init re-opens the console anyway).
mknod -m 600 "$STAGE/dev/console" c 5 1 2>/dev/null || true
mknod -m 666 "$STAGE/dev/null" c 1 3 2>/dev/null || true

# Kernel modules for the ACPI power button (only if built as modules).
for m in kernel/drivers/acpi/button.ko kernel/drivers/input/evdev.ko; do
    for suffix in "" .xz .zst .gz; do
        if [ -f "$MODDIR/$m$suffix" ]; then
            case "$suffix" in
                "")   cp "$MODDIR/$m" "$STAGE/lib/modules/" ;;
                .xz)  xz -dc "$MODDIR/$m.xz" > "$STAGE/lib/modules/$(basename "$m")" ;;
                .zst) zstd -qdc "$MODDIR/$m.zst" > "$STAGE/lib/modules/$(basename "$m")" ;;
                .gz)  gzip -dc "$MODDIR/$m.gz" > "$STAGE/lib/modules/$(basename "$m")" ;;
            esac
            break
        fi
    done
done

# virtio PCI transport, virtio-serial (the agent's port), virtiofs and 9p, in the
# order modprobe would load them; numbered so /init's glob loads them in order.
n=10
# 9p is optional: Debian's cloud kernel is built without it (CONFIG_NET_9P is not set).
for f in $( (for m in virtio_pci virtio_console virtiofs; do modprobe -d "${ROOT:-/}" -S "$KVER" --show-depends "$m"; done
             for m in 9pnet_virtio 9p; do modprobe -d "${ROOT:-/}" -S "$KVER" --show-depends "$m" 2>/dev/null; done) \
            | awk '$1 == "insmod" && !seen[$2]++ {print $2}'); do
    out="$STAGE/lib/modules/$n-$(basename "${f%%.ko*}").ko"
    case "$f" in
        *.xz) xz -dc "$f" > "$out" ;;
        *.zst) zstd -qdc "$f" > "$out" ;;
        *.gz) gzip -dc "$f" > "$out" ;;
        *) cp "$f" "$out" ;;
    esac
    n=$((n + 1))
done

# qemu-guest-agent and its libraries (same paths as on the host).
QGA=/usr/sbin/qemu-ga
if [ ! -x "$QGA" ]; then
    echo "build-guest.sh: $QGA missing (apt-get install qemu-guest-agent)" >&2
    exit 1
fi
mkdir -p "$STAGE/usr/sbin"
cp "$QGA" "$STAGE/usr/sbin/qemu-ga"
for lib in $(ldd "$QGA" | awk '/=> \// {print $3} /^[[:space:]]*\/[^ ]*ld-linux/ {print $1}'); do
    mkdir -p "$STAGE$(dirname "$lib")"
    cp -L "$lib" "$STAGE$lib"
done

cat > "$STAGE/etc/acpi/PWRF/00000080" <<'ACPI'
#!/bin/busybox sh
echo "VMMAP-POWEROFF" > /dev/console
sync
/bin/busybox poweroff -f
ACPI
chmod 755 "$STAGE/etc/acpi/PWRF/00000080"
# busybox acpid: "<substring of event> <handler path relative to -c DIR>".
# (An empty action file would disable the built-in defaults, so write it out.)
echo "PWRF PWRF/00000080" > "$STAGE/etc/acpid.conf"

cat > "$STAGE/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
exec </dev/console >/dev/console 2>&1

say() { echo "$*"; }

arg() {  # arg NAME DEFAULT -> value of NAME=... on the kernel cmdline
    v=$2
    for w in $(cat /proc/cmdline); do
        case "$w" in "$1="*) v=${w#*=} ;; esac
    done
    echo "$v"
}

SPIN=$(arg vmmap.spin 0)
ALLOC=$(arg vmmap.alloc 0)
ALLOC_AT=$(arg vmmap.alloc_at 0)
HB=$(arg vmmap.heartbeat 5)

# ACPI power button -> poweroff.
for m in /lib/modules/*.ko; do [ -f "$m" ] && insmod "$m" 2>/dev/null; done
acpid -c /etc/acpi -a /etc/acpid.conf -l /var/log/acpid.log -p /var/run/acpid.pid

# Host shares (vmmap's mount contract): vmmap.mount=<tag>,<fstype>,<ro|rw>,<%-encoded path>,
# then vmmap.file=<%-encoded source>,<ro|rw>,<%-encoded path> once every share is mounted.
# %b: the decoded bytes are data, never a printf format.
decode() { printf '%b' "$(echo "$1" | sed 's/%/\\x/g')"; }
report() { if [ "$1" = 0 ]; then say "VMMAP-MOUNTED=$path"; else say "VMMAP-MOUNT-FAILED=$path"; fi; }
for w in $(cat /proc/cmdline); do
    case "$w" in
        vmmap.mount=*)
            spec=${w#vmmap.mount=}
            tag=${spec%%,*}; spec=${spec#*,}
            fstype=${spec%%,*}; spec=${spec#*,}
            mode=${spec%%,*}
            path=$(decode "${spec#*,}")
            opts=$mode
            [ "$fstype" = 9p ] && opts="$mode,trans=virtio,version=9p2000.L,msize=262144"
            mkdir -p "$path" && mount -t "$fstype" -o "$opts" "$tag" "$path"
            report $?
            ;;
    esac
done
for w in $(cat /proc/cmdline); do
    case "$w" in
        vmmap.file=*)
            spec=${w#vmmap.file=}
            src=$(decode "${spec%%,*}"); spec=${spec#*,}
            mode=${spec%%,*}
            path=$(decode "${spec#*,}")
            mkdir -p "$(dirname "$path")" && touch "$path" && mount -o bind "$src" "$path" &&
                { [ "$mode" = rw ] || mount -o remount,bind,ro "$path"; }
            report $?
            ;;
    esac
done

# qemu-guest-agent on the virtio-serial port libvirt names org.qemu.guest_agent.0.
if [ "$(arg vmmap.qga 1)" = 1 ]; then
    port=""; i=0
    while [ -z "$port" ] && [ $i -lt 50 ]; do
        for p in /sys/class/virtio-ports/vport*; do
            [ "$(cat "$p/name" 2>/dev/null)" = org.qemu.guest_agent.0 ] && port=/dev/${p##*/}
        done
        [ -n "$port" ] || sleep 0.1
        i=$((i + 1))
    done
    if [ -n "$port" ]; then
        block=$(arg vmmap.qga_block "")
        qemu-ga -m virtio-serial -p "$port" -t /run -f /run/qemu-ga.pid -d \
            ${block:+--block-rpcs=$block}
        say "VMMAP-QGA-STARTED"
    else
        say "VMMAP-QGA-NO-PORT"
    fi
fi

say "VMMAP-GUEST-BOOTED"
if [ "$(arg vmmap.debug 0)" = 1 ]; then
    say "VMMAP-DEBUG modules: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
    say "VMMAP-DEBUG input: $(grep '^N:' /proc/bus/input/devices | tr '\n' ' ')"
    say "VMMAP-DEBUG events: $(ls /dev/input 2>&1 | tr '\n' ' ')"
    say "VMMAP-DEBUG acpid: $(cat /var/run/acpid.pid 2>&1)"
    ( sleep 1; tail -f /var/log/acpid.log | sed 's/^/VMMAP-DEBUG acpid-log: /' ) &
fi
say "VMMAP-CPUS-ONLINE=$(cat /sys/devices/system/cpu/online)"
say "VMMAP-NPROC=$(nproc)"
say "VMMAP-MEMTOTAL-KB=$(awk '/^MemTotal:/{print $2}' /proc/meminfo)"

if [ "$SPIN" = 1 ]; then
    n=$(nproc); i=0
    while [ $i -lt $n ]; do
        ( while :; do :; done ) &
        i=$((i + 1))
    done
    say "VMMAP-SPINNING=$n"
fi

if [ "$ALLOC" = max ] || [ "$ALLOC" -gt 0 ] 2>/dev/null; then
    (
        [ "$ALLOC_AT" -gt 0 ] 2>/dev/null && sleep "$ALLOC_AT"
        mount -t tmpfs -o size=$(( $(awk '/^MemTotal:/{print $2}' /proc/meminfo) / 1024 ))m tmpfs /mnt/alloc
        if [ "$ALLOC" = max ]; then
            # Everything the kernel will hand out, minus a reserve so that PID 1 (this
            # script) is not OOM-killed (which would panic the guest). MemAvailable
            # under-reports on bigger guests, so fill in rounds until little is left.
            reserve=$(arg vmmap.alloc_reserve 12)
            got=0; round=0
            while [ $round -lt 6 ]; do
                n=$(( $(awk '/^MemAvailable:/{print $2}' /proc/meminfo) / 1024 - reserve ))
                [ "$n" -ge 4 ] || break
                dd if=/dev/zero of=/mnt/alloc/fill$round bs=1M count="$n" 2>/dev/null
                got=$((got + n)); round=$((round + 1))
            done
            say "VMMAP-ALLOCATED=$got"
        else
            dd if=/dev/zero of=/mnt/alloc/fill bs=1M count="$ALLOC" 2>/dev/null
            got=$(( $(stat -c %s /mnt/alloc/fill 2>/dev/null || echo 0) / 1048576 ))
            if [ "$got" -ge "$ALLOC" ]; then say "VMMAP-ALLOCATED=$got"; else say "VMMAP-ALLOC-FAILED=$got"; fi
        fi
    ) &
fi

if [ "$(arg vmmap.flood 0)" = 1 ]; then
    yes "VMMAP-FLOOD 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz" &
fi

while :; do
    set -- $(cat /proc/uptime)
    say "VMMAP-HEARTBEAT uptime=${1%%.*} memfree_kb=$(awk '/^MemFree:/{print $2}' /proc/meminfo) memavail_kb=$(awk '/^MemAvailable:/{print $2}' /proc/meminfo)"
    sleep "$HB"
done
INIT
chmod 755 "$STAGE/init"

cp "$KERNEL" "$OUTDIR/vmlinuz.tmp" && mv -f "$OUTDIR/vmlinuz.tmp" "$OUTDIR/vmlinuz"
( cd "$STAGE" && find . -print | cpio -o -H newc --quiet ) | gzip -1 > "$OUTDIR/initrd.img.tmp"
mv -f "$OUTDIR/initrd.img.tmp" "$OUTDIR/initrd.img"
chmod 644 "$OUTDIR/vmlinuz" "$OUTDIR/initrd.img"
echo "build-guest.sh: $OUTDIR/vmlinuz ($KVER), $OUTDIR/initrd.img"
