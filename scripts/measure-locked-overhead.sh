#!/bin/bash
# measure-locked-overhead.sh [SHAPES...]      e.g. 256x1 256x2 512x1   (guest MiB x vCPUs)
#
# What QEMU really keeps resident when its memory is LOCKED, as vmmap configures
# every domain (<memoryBacking><locked/>: QEMU calls mlockall(MCL_CURRENT|MCL_FUTURE)),
# for vmmap-shaped TCG domains: direct kernel boot, <tcg><tb-cache> 64 MiB, a virtio
# balloon with stats, the qemu-guest-agent virtio-serial channel, a file serial console;
# the guest touches all the memory its kernel hands out (vmmap.alloc=max).
#
# This sandbox has no CAP_SYS_RESOURCE, so libvirt cannot raise QEMU's RLIMIT_MEMLOCK
# (8 MiB): the harness's memlock shim (preloaded into this script's virsh, the process
# that runs the embedded driver) makes that prlimit "succeed". But root has CAP_IPC_LOCK,
# and mlockall honours it over the limit: the embedded driver's qemu.conf here runs QEMU
# as root and keeps its capabilities, so QEMU's mlockall locks for real (the shim passes
# a successful mlockall through). docs/overhead-measurement.md, "Locked, measured".
#
# Per shape: after the guest reports VMMAP-ALLOCATED and SETTLE s more, the domain
# memory cgroup's max_usage (and usage, kmem, cache), QEMU's VmLck/VmRSS/Threads;
# overhead = max_usage - guest size (all guest RAM is resident: it is locked).
# The domains get a generous hard_limit (guest + 1 GiB): we measure, the cgroup must
# not OOM-kill. All shapes boot at once (they only compete for CPU, not for memory).
#
# Env: SETTLE=20 (s), WORK=/var/tmp/vmmap-locked-overhead. Run as root; needs what the
# e2e tests need (libvirt 9, QEMU, linux-image-cloud-amd64, busybox-static, cc).
# Everything it creates (domains, the /vmmaplocked cgroup partition, WORK) is removed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/var/tmp/vmmap-locked-overhead}
export SETTLE=${SETTLE:-20}
[ $# -gt 0 ] || set -- 256x1 256x2 256x4 512x1 1024x1 1024x4
mkdir -p "$WORK/root/etc"; chmod 0755 "$WORK"
WORK=$(cd "$WORK" && pwd)
"$ROOT/tests/harness/build-shim.sh" "$WORK" >/dev/null
"$ROOT/tests/e2e/guest/build-guest.sh" "$WORK/guest" >/dev/null
printf 'stdio_handler = "file"\nuser = "root"\ngroup = "root"\nclear_emulator_capabilities = 0\n' \
    > "$WORK/root/etc/qemu.conf"
PART=vmmaplocked.partition
cleanup() {
    for d in /sys/fs/cgroup/*/$PART; do [ -L "${d%/$PART}" ] || find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
for c in /sys/fs/cgroup/*; do [ -L "$c" ] || mkdir -p "$c/$PART"; done
cat /sys/fs/cgroup/cpuset/cpuset.cpus > /sys/fs/cgroup/cpuset/$PART/cpuset.cpus
cat /sys/fs/cgroup/cpuset/cpuset.mems > /sys/fs/cgroup/cpuset/$PART/cpuset.mems
echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) CPUs, $(qemu-system-x86_64 --version | head -n1), load $(cut -d' ' -f1-3 /proc/loadavg)"
export WORK
python3 - "$@" <<'PY'
import os, re, subprocess, sys, time
W = os.environ["WORK"]; URI = f"qemu:///embed?root={W}/root"; SETTLE = float(os.environ["SETTLE"])
env = dict(os.environ, LD_PRELOAD=f"{W}/libvmmap-memlock-shim.so")
def virsh(*a, check=True):
    return subprocess.run(["virsh", "-c", URI, *a], env=env, capture_output=True, text=True,
                          check=check).stdout
def xml(name, mem, vcpus):
    return f"""<domain type='qemu'><name>{name}</name><memory unit='MiB'>{mem}</memory>
<memtune><hard_limit unit='MiB'>{mem + 1024}</hard_limit></memtune><memoryBacking><locked/></memoryBacking>
<vcpu placement='static'>{vcpus}</vcpu><resource><partition>/vmmaplocked</partition></resource>
<os><type arch='x86_64' machine='pc'>hvm</type><kernel>{W}/guest/vmlinuz</kernel><initrd>{W}/guest/initrd.img</initrd>
<cmdline>console=ttyS0 quiet vmmap.alloc=max vmmap.alloc_at=1 vmmap.heartbeat=5</cmdline></os>
<features><acpi/><apic/><tcg><tb-cache unit='MiB'>64</tb-cache></tcg></features>
<on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<serial type='file'><source path='{W}/{name}.serial'/><target port='0'/></serial>
<channel type='unix'><source mode='bind' path='{W}/{name}.qga'/><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
<memballoon model='virtio'><stats period='10'/></memballoon></devices></domain>"""
def memcg(pid):
    for l in open(f"/proc/{pid}/cgroup"):
        _, c, p = l.strip().split(":", 2)
        if "memory" in c.split(","): return "/sys/fs/cgroup/memory" + p
doms = {}
try:
    for shape in sys.argv[1:]:
        mem, v = map(int, shape.split("x")); name = f"locked-{mem}-{v}"
        open(f"{W}/{name}.xml", "w").write(xml(name, mem, v))
        virsh("define", f"{W}/{name}.xml"); virsh("start", name)
        doms[name] = (mem, v, int(open(f"{W}/root/run/qemu/{name}.pid").read()))
    deadline = time.time() + 900
    while time.time() < deadline and not all(
            "VMMAP-ALLOCATED=" in open(f"{W}/{n}.serial", errors="replace").read() for n in doms):
        time.sleep(2)
    time.sleep(SETTLE)
    print("| guest MiB | vCPUs | threads | VmLck MiB | VmRSS MiB | cg usage MiB | cg max_usage MiB "
          "| kmem MiB | cache MiB | **overhead = max_usage − guest, MiB** |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n, (mem, v, pid) in doms.items():
        st = open(f"/proc/{pid}/status").read()
        g = lambda k: int(re.search(rf"^{k}:\s+(\d+)", st, re.M).group(1))
        d = memcg(pid); r = lambda f: int(open(f"{d}/{f}").read().split()[0])
        ms = dict(l.split() for l in open(f"{d}/memory.stat"))
        mx = r("memory.max_usage_in_bytes") / 2**20
        print(f"| {mem} | {v} | {g('Threads')} | {g('VmLck') / 1024:.1f} | {g('VmRSS') / 1024:.1f} "
              f"| {r('memory.usage_in_bytes') / 2**20:.1f} | {mx:.1f} "
              f"| {r('memory.kmem.usage_in_bytes') / 2**20:.1f} | {int(ms['cache']) / 2**20:.1f} "
              f"| **{mx - mem:.1f}** |", flush=True)
finally:
    for n in doms:
        virsh("destroy", n, check=False); virsh("undefine", n, check=False)
PY
