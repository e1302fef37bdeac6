#!/bin/bash
# measure-overhead.sh [RESULTS_DIR]
#
# Calibrates vmmap's VMM memory-overhead model (memtune hard_limit = guest memory +
# overhead) by booting real guests under libvirt (qemu:///system, TCG) that touch
# essentially all of their RAM, and reading what the host charges for them:
#   QEMU VmRSS/VmHWM, the domain's memory cgroup (usage / max_usage), and from
#   /proc/PID/smaps the RSS of the guest-RAM mapping (pc.ram) and of TCG's code buffer.
#   overhead = cgroup max_usage - resident guest RAM           (fitted)
#   also:     cgroup max_usage - guest memory size             (reported)
# then fits  overhead = fixed + per_vcpu * vCPUs + guest_MiB / K  by least squares.
# See docs/overhead-measurement.md for results and caveats (TCG != KVM).
#
# Env knobs:  MEMS="256 512 1024"  VCPUS="1 2 4"  SETTLE=6 (s after the guest filled RAM)
#             VMMAP_OVERHEAD_STATEDIR=/var/tmp/vmmap-overhead   (o+x: QEMU runs as libvirt-qemu)
# Needs (Debian 12): libvirt-daemon-system libvirt-clients qemu-system-x86
#   linux-image-cloud-amd64 busybox-static cpio gcc python3. Run as root.
# Starts virtlogd/libvirtd via tests/harness/libvirtd.sh if they are not running and
# stops them again at the end (only if it started them). Guests run one at a time.
# Results: RESULTS_DIR/overhead.tsv (raw), RESULTS_DIR/fit.txt, RESULTS_DIR/serial-*.log
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATEDIR=${VMMAP_OVERHEAD_STATEDIR:-/var/tmp/vmmap-overhead}
RESULTS=${1:-$STATEDIR/results}
export MEMS=${MEMS:-"256 512 1024"}
export VCPUS=${VCPUS:-"1 2 4"}
export SETTLE=${SETTLE:-6}

mkdir -p "$STATEDIR" "$RESULTS"
STATEDIR=$(cd "$STATEDIR" && pwd); RESULTS=$(cd "$RESULTS" && pwd)
chmod 0755 "$STATEDIR"

STARTED_LIBVIRTD=0
if ! pgrep -x libvirtd >/dev/null 2>&1; then STARTED_LIBVIRTD=1; fi
cleanup() {
    for d in $(virsh -c qemu:///system list --all --name 2>/dev/null | grep '^vmmap-ovh-' || true); do
        virsh -c qemu:///system destroy "$d" >/dev/null 2>&1 || true
        virsh -c qemu:///system undefine "$d" >/dev/null 2>&1 || true
    done
    if [ "$STARTED_LIBVIRTD" = 1 ]; then "$ROOT/tests/harness/libvirtd.sh" stop "$STATEDIR" || true; fi
}
trap cleanup EXIT
"$ROOT/tests/harness/libvirtd.sh" start "$STATEDIR"
"$ROOT/tests/e2e/guest/build-guest.sh" "$STATEDIR/guest" >/dev/null

export STATEDIR RESULTS
python3 - <<'PY'
import os, re, subprocess, sys, time

STATEDIR = os.environ["STATEDIR"]; RESULTS = os.environ["RESULTS"]
MEMS = [int(x) for x in os.environ["MEMS"].split()]
VCPUS = [int(x) for x in os.environ["VCPUS"].split()]
SETTLE = float(os.environ["SETTLE"])
URI = "qemu:///system"
EMU = f"{STATEDIR}/qemu-system-x86_64-shim"
MiB = 1024 * 1024

def virsh(*args, check=True):
    return subprocess.run(["virsh", "-c", URI, *args], check=check,
                          capture_output=True, text=True).stdout

def domain_xml(name, mem, vcpus, serial):
    hard = mem + max(512, mem)  # generous: we measure, the cgroup must not OOM-kill
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{mem}</memory>
  <memtune><hard_limit unit='MiB'>{hard}</hard_limit></memtune>
  <memoryBacking><locked/></memoryBacking>
  <vcpu placement='static'>{vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{STATEDIR}/guest/vmlinuz</kernel>
    <initrd>{STATEDIR}/guest/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet vmmap.alloc=max vmmap.alloc_at=1 vmmap.heartbeat=2</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <cpu mode='custom' match='exact' check='none'><model fallback='allow'>qemu64</model></cpu>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>{EMU}</emulator>
    <serial type='file'><source path='{serial}'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>
"""

def read_int(path):
    try:
        with open(path) as f: return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return -1

def status_kb(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"): return int(line.split()[1])
    return -1

def smaps(pid, mem):
    """-> (guest RAM rss kB, TCG code buffer rss kB, locked-equivalent kB).
    guest RAM = the private anonymous rw mapping of exactly the guest size (pc.ram);
    TCG code buffer = anonymous rwx mappings; locked-equivalent = total size of all
    accessible (non ---p) private anonymous mappings except guest RAM, i.e. what
    mlockall(MCL_CURRENT|MCL_FUTURE) would have made resident if it were not shimmed."""
    ram = code = lockeq = 0
    cur = None
    for line in open(f"/proc/{pid}/smaps"):
        m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$", line)
        if m:
            size = (int(m.group(2), 16) - int(m.group(1), 16)) // 1024
            perms, inode, path = m.group(3), int(m.group(4)), m.group(5)
            anon = inode == 0 and (path == "" or path.startswith("[heap") or path.startswith("[stack"))
            cur = (size, perms, anon)
            continue
        if line.startswith("Rss:") and cur:
            rss = int(line.split()[1]); size, perms, anon = cur
            if not anon: continue
            if perms == "rw-p" and size == mem * 1024 and ram == 0:
                ram = rss; continue
            if perms == "rwxp": code += rss
            if perms != "---p": lockeq += size
    return ram, code, lockeq

def cgroup_dir(pid):
    for line in open(f"/proc/{pid}/cgroup"):
        hid, ctrls, path = line.rstrip("\n").split(":", 2)
        if "memory" in ctrls.split(","):
            return "v1", f"/sys/fs/cgroup/memory{path}"
    for line in open(f"/proc/{pid}/cgroup"):
        if line.startswith("0::"):
            p = line.rstrip("\n").split(":", 2)[2]
            for base in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
                if os.path.exists(f"{base}{p}/memory.current"): return "v2", f"{base}{p}"
    return None, None

def cg_sample(kind, d):
    if kind == "v1":
        st = {l.split()[0]: int(l.split()[1]) for l in open(f"{d}/memory.stat")}
        return dict(usage=read_int(f"{d}/memory.usage_in_bytes"),
                    max_usage=read_int(f"{d}/memory.max_usage_in_bytes"),
                    limit=read_int(f"{d}/memory.limit_in_bytes"),
                    kmem=read_int(f"{d}/memory.kmem.usage_in_bytes"),
                    cg_rss=st.get("rss", -1), cg_cache=st.get("cache", -1))
    if kind == "v2":
        st = {l.split()[0]: int(l.split()[1]) for l in open(f"{d}/memory.stat")}
        return dict(usage=read_int(f"{d}/memory.current"), max_usage=read_int(f"{d}/memory.peak"),
                    limit=read_int(f"{d}/memory.max"), kmem=st.get("kernel", -1),
                    cg_rss=st.get("anon", -1), cg_cache=st.get("file", -1))
    return dict(usage=-1, max_usage=-1, limit=-1, kmem=-1, cg_rss=-1, cg_cache=-1)

COLS = ["mem_mib", "vcpus", "alloc_mib", "guest_memfree_kb", "boot_to_filled_s",
        "vmrss_kb", "vmhwm_kb", "vmpte_kb", "guestram_rss_kb", "tcg_code_rss_kb",
        "cg_usage", "cg_max_usage", "cg_rss", "cg_cache", "cg_kmem", "cg_limit",
        "ovh_mib", "ovh_vs_size_mib", "ovh_rss_mib", "locked_est_ovh_mib"]
rows = []

def run_one(mem, vcpus):
    name = f"vmmap-ovh-{mem}m-{vcpus}c"
    serial = f"{RESULTS}/serial-{name}.log"
    virsh("destroy", name, check=False); virsh("undefine", name, check=False)
    if os.path.exists(serial): os.unlink(serial)
    xmlf = f"{STATEDIR}/{name}.xml"
    open(xmlf, "w").write(domain_xml(name, mem, vcpus, serial))
    virsh("define", xmlf)
    t0 = time.time()
    virsh("start", name)
    pid = int(open(f"/run/libvirt/qemu/{name}.pid").read().split()[0])
    alloc, deadline = None, time.time() + 240
    while time.time() < deadline:
        log = open(serial, errors="replace").read() if os.path.exists(serial) else ""
        m = re.search(r"VMMAP-ALLOC(?:ATED|-FAILED)=(\d+)", log)
        if m: alloc = int(m.group(1)); break
        time.sleep(0.5)
    if alloc is None:
        print(f"{name}: guest never reported VMMAP-ALLOCATED", file=sys.stderr)
        virsh("destroy", name, check=False); virsh("undefine", name, check=False)
        return
    filled = time.time() - t0
    time.sleep(SETTLE)
    kind, cgd = cgroup_dir(pid)
    best = None
    for _ in range(3):
        cg = cg_sample(kind, cgd)
        ram, code, lockeq = smaps(pid, mem)
        s = dict(vmrss_kb=status_kb(pid, "VmRSS"), vmhwm_kb=status_kb(pid, "VmHWM"),
                 vmpte_kb=status_kb(pid, "VmPTE"), guestram_rss_kb=ram,
                 tcg_code_rss_kb=code, lockeq_kb=lockeq, **cg)
        if best is None or s["usage"] > best["usage"]: best = s
        time.sleep(1)
    log = open(serial, errors="replace").read()
    hb = re.findall(r"VMMAP-HEARTBEAT uptime=\d+ memfree_kb=(\d+)", log)
    r = dict(mem_mib=mem, vcpus=vcpus, alloc_mib=alloc,
             guest_memfree_kb=int(hb[-1]) if hb else -1,
             boot_to_filled_s=round(filled, 1), **best)
    r["ovh_mib"] = round((r["max_usage"] - r["guestram_rss_kb"] * 1024) / MiB, 1)
    r["ovh_vs_size_mib"] = round((r["max_usage"] - mem * MiB) / MiB, 1)
    r["ovh_rss_mib"] = round((r["vmrss_kb"] - r["guestram_rss_kb"]) / 1024, 1)
    r["locked_est_ovh_mib"] = round(r["lockeq_kb"] / 1024, 1)
    r.update(cg_usage=r["usage"], cg_max_usage=r["max_usage"], cg_limit=r["limit"], cg_kmem=r["kmem"])
    rows.append(r)
    print(f"{name}: alloc={alloc} MiB filled after {filled:.1f}s  VmRSS={r['vmrss_kb']//1024} MiB "
          f"guestRAM={r['guestram_rss_kb']//1024} MiB tcg={r['tcg_code_rss_kb']//1024} MiB "
          f"cg.max={r['max_usage']/MiB:.1f} MiB  overhead={r['ovh_mib']} MiB", flush=True)
    virsh("destroy", name, check=False); virsh("undefine", name, check=False)

t_start = time.time()
for mem in MEMS:
    for v in VCPUS:
        run_one(mem, v)

with open(f"{RESULTS}/overhead.tsv", "w") as f:
    f.write("\t".join(COLS) + "\n")
    for r in rows: f.write("\t".join(str(r[c]) for c in COLS) + "\n")

def lstsq(X, y):  # normal equations, tiny dense solve (no numpy dependency)
    n = len(X[0])
    A = [[sum(X[k][i] * X[k][j] for k in range(len(X))) for j in range(n)] for i in range(n)]
    b = [sum(X[k][i] * y[k] for k in range(len(X))) for i in range(n)]
    for i in range(n):
        p = max(range(i, n), key=lambda r: abs(A[r][i])); A[i], A[p] = A[p], A[i]; b[i], b[p] = b[p], b[i]
        for r in range(n):
            if r != i and A[i][i]:
                fct = A[r][i] / A[i][i]
                A[r] = [a - fct * c for a, c in zip(A[r], A[i])]; b[r] -= fct * b[i]
    return [b[i] / A[i][i] for i in range(n)]

out = []
def fit(label, key):
    pts = [r for r in rows if r[key] >= 0]
    if len(pts) < 3: return
    X = [[1.0, r["vcpus"], r["mem_mib"]] for r in pts]; y = [r[key] for r in pts]
    a, b, c = lstsq(X, y)
    res = [yy - (a + b * x[1] + c * x[2]) for x, yy in zip(X, y)]
    K = (1 / c) if c > 0 else float("inf")
    out.append(f"{label}: overhead_MiB = {a:.1f} + {b:.2f} * vCPUs + guest_MiB / {K:.1f}"
               f"   (guest_MiB coeff {c:.4f}; residuals min {min(res):.1f} max {max(res):.1f} MiB)")
fit("cgroup max_usage - resident guest RAM (fitted model)", "ovh_mib")
fit("cgroup max_usage - guest size", "ovh_vs_size_mib")
fit("VmRSS - resident guest RAM", "ovh_rss_mib")
fit("locked estimate (mlockall would populate)", "locked_est_ovh_mib")
out.append(f"runs: {len(rows)}  wall time: {time.time() - t_start:.0f} s")
txt = "\n".join(out)
open(f"{RESULTS}/fit.txt", "w").write(txt + "\n")
print("\n" + open(f"{RESULTS}/overhead.tsv").read() + "\n" + txt)
PY
