#!/bin/sh
# build-net-guest.sh OUTDIR
#
# A tiny direct-kernel-boot guest with a network, for the pod network tests:
#   OUTDIR/vmlinuz     Debian's cloud kernel (newest /boot/vmlinuz-*-cloud-amd64)
#   OUTDIR/initrd.img  busybox-static initramfs with the virtio-net modules
#
# The cloud kernel has no in-kernel IP autoconfiguration (CONFIG_IP_PNP is not
# set), so /init reads the kernel's ip= parameter itself, the format vmmap
# writes (server/network/kernel_ip_arg.h):
#   ip=<client>::<gateway>:<netmask>:<hostname>:<device>:off[:<dns0>[:<dns1>]]
# then serves HTTP on port 80 (the body is VMMAP-GUEST <hostname>).
#   vmmap.dns=<servers>/<searches>/<options>   (server/network/guest_dns.h; each
#                       list comma-separated) becomes /etc/resolv.conf, printed
#                       to ttyS0 as VMMAP-RESOLV <line>, then VMMAP-RESOLV-DONE
#   vmmap.fetch=<ip>:<port>   after the network is up, GET / there until it answers
#                       (busybox nc: the static busybox's wget crashes)
#   vmmap.iperf=server        run an iperf3 server (bench/network_throughput)
#   vmmap.iperf=<ip>:<secs>   run an iperf3 client against <ip> for <secs> seconds;
#                       its output lines go to ttyS0 as VMMAP-IPERF <line>, then
#                       VMMAP-IPERF-DONE (iperf3 is copied in with its libraries
#                       when the host has it)
#
# Lines on ttyS0: VMMAP-NET-UP ip=<client> mtu=<mtu>, VMMAP-NET-FAILED <why>,
# VMMAP-FETCHED <first line of the body> (with vmmap.fetch).
# Host packages (Debian 12): linux-image-cloud-amd64 busybox-static cpio gzip [iperf3]
set -eu

OUTDIR=${1:?usage: build-net-guest.sh OUTDIR}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)

KERNEL=$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$KERNEL" ] && [ -r "$KERNEL" ] || { echo "build-net-guest.sh: no cloud kernel" >&2; exit 1; }
KVER=${KERNEL#/boot/vmlinuz-}
MODDIR=/lib/modules/$KVER
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || { echo "build-net-guest.sh: busybox-static missing" >&2; exit 1; }

STAGE=$(mktemp -d "$OUTDIR/.stage.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT INT TERM
mkdir -p "$STAGE/bin" "$STAGE/dev" "$STAGE/etc" "$STAGE/proc" "$STAGE/sys" "$STAGE/lib/modules" "$STAGE/www"
cp "$BUSYBOX" "$STAGE/bin/busybox"

# In dependency order, as modprobe would load them, decompressed if needed.
n=0
for f in $( (modprobe -S "$KVER" --show-depends virtio_pci; modprobe -S "$KVER" --show-depends virtio_net) \
            | awk '$1 == "insmod" && !seen[$2]++ {print $2}'); do
    n=$((n + 1))
    out="$STAGE/lib/modules/$(printf %02d $n)-$(basename "${f%%.ko*}").ko"
    case "$f" in
        *.xz) xz -dc "$f" > "$out" ;;
        *.zst) zstd -qdc "$f" > "$out" ;;
        *.gz) gzip -dc "$f" > "$out" ;;
        *) cp "$f" "$out" ;;
    esac
done

# iperf3 and the shared objects it loads, at their own paths.
if [ -x /usr/bin/iperf3 ]; then
    mkdir -p "$STAGE/usr/bin" "$STAGE/tmp"
    cp /usr/bin/iperf3 "$STAGE/usr/bin/iperf3"
    for lib in $(ldd /usr/bin/iperf3 | awk '/=>/ {print $3} /^[[:space:]]*\// {print $1}'); do
        mkdir -p "$STAGE$(dirname "$lib")"
        cp -L "$lib" "$STAGE$lib"
    done
fi

cat > "$STAGE/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
exec </dev/console >/dev/console 2>&1
for m in /lib/modules/*.ko; do insmod "$m"; done
ipspec=""
for w in $(cat /proc/cmdline); do case "$w" in ip=*) ipspec=${w#ip=} ;; esac; done
IFS=: read -r client server gw mask host dev auto dns0 dns1 <<EOF2
$ipspec
EOF2
[ -n "$host" ] && hostname "$host"
echo "VMMAP-GUEST $(hostname)" > /www/index.html
i=0
while [ ! -e "/sys/class/net/${dev:-eth0}" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
ip link set lo up
if [ -z "$client" ]; then
    echo "VMMAP-NET-FAILED no ip= parameter"
elif ifconfig "$dev" "$client" netmask "$mask" up; then
    [ -n "$gw" ] && route add default gw "$gw"
    echo "VMMAP-NET-UP ip=$client mtu=$(cat /sys/class/net/$dev/mtu)"
else
    echo "VMMAP-NET-FAILED ifconfig $dev"
fi
dnsspec=""
for w in $(cat /proc/cmdline); do case "$w" in vmmap.dns=*) dnsspec=${w#vmmap.dns=} ;; esac; done
if [ -n "$dnsspec" ]; then
    IFS=/ read -r servers searches options <<EOF3
$dnsspec
EOF3
    {
        for s in $(echo "$servers" | tr , ' '); do echo "nameserver $s"; done
        [ -n "$searches" ] && echo "search $(echo "$searches" | tr , ' ')"
        [ -n "$options" ] && echo "options $(echo "$options" | tr , ' ')"
    } > /etc/resolv.conf
    while read -r l; do echo "VMMAP-RESOLV $l"; done < /etc/resolv.conf
    echo "VMMAP-RESOLV-DONE"
fi
httpd -p 80 -h /www
fetch=""
for w in $(cat /proc/cmdline); do case "$w" in vmmap.fetch=*) fetch=${w#vmmap.fetch=} ;; esac; done
if [ -n "$fetch" ]; then
    i=0
    while [ $i -lt 120 ]; do
        body=$(printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 "${fetch%:*}" "${fetch##*:}" 2>/dev/null \
               | grep VMMAP-GUEST | head -n 1)
        [ -n "$body" ] && { echo "VMMAP-FETCHED $body"; break; }
        sleep 1; i=$((i + 1))
    done
fi
iperf=""
for w in $(cat /proc/cmdline); do case "$w" in vmmap.iperf=*) iperf=${w#vmmap.iperf=} ;; esac; done
if [ "$iperf" = server ]; then
    /usr/bin/iperf3 -s -D && echo "VMMAP-IPERF-SERVER"
elif [ -n "$iperf" ]; then
    i=0
    until /usr/bin/iperf3 -c "${iperf%:*}" -t 1 >/dev/null 2>&1 || [ $i -ge 300 ]; do
        sleep 1; i=$((i + 1))
    done
    /usr/bin/iperf3 -c "${iperf%:*}" -t "${iperf##*:}" -f m 2>&1 | while read -r l; do
        echo "VMMAP-IPERF $l"
    done
    echo "VMMAP-IPERF-DONE"
fi
while :; do sleep 3600; done
INIT
chmod 755 "$STAGE/init"

cp "$KERNEL" "$OUTDIR/vmlinuz"
( cd "$STAGE" && find . -print | cpio -o -H newc --quiet ) | gzip -1 > "$OUTDIR/initrd.img"
chmod 644 "$OUTDIR/vmlinuz" "$OUTDIR/initrd.img"
echo "build-net-guest.sh: $OUTDIR/vmlinuz ($KVER), $OUTDIR/initrd.img"
