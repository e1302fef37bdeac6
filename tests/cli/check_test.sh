#!/usr/bin/env bash
# `vmmap check` and `vmmap version` on this machine: every finding that is
# knowable here is computed independently (ulimit, /proc, pkg-config, the
# tools themselves) and compared; prepared directories make the CNI, cgroup,
# KVM and disk findings fail and pass on purpose.
#
#   check_test.sh VMMAP SOURCE_DIR
set -u
vmmap=${1:?usage: check_test.sh VMMAP SOURCE_DIR}
src=${2:?usage: check_test.sh VMMAP SOURCE_DIR}
[[ -x $vmmap ]] || { echo "FAIL: $vmmap is not an executable"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/cli/expect_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/expect_lib.sh"

# --- version ---------------------------------------------------------------
libvirt_version=$(pkg-config --modversion libvirt)
expect "version names vmmap, CRI and the libvirt library" 0 stdout '^vmmap [0-9]+\.[0-9]+\.[0-9]+$' \
  '^CRI: runtime\.v1' "^libvirt library: ${libvirt_version//./\\.}\$" -- "$vmmap" version
if commit=$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null); then
  expect "version bakes in the commit" 0 stdout "^commit: $commit" -- "$vmmap" version
fi
if qemu=$(command -v qemu-system-x86_64); then
  qemu_line=$("$qemu" --version | head -n 1)
  expect "version reports the QEMU found at run time" 0 stdout "^QEMU: ${qemu_line%% (*}" -- "$vmmap" version
fi
expect "version --emulator that does not exist says so" 0 stdout '^QEMU: .*\(/nonexistent/qemu\)$' -- \
  "$vmmap" version --emulator /nonexistent/qemu
expect "version --libvirt-uri reports the connection" 0 stdout '^libvirt connection: test:///default opened: libvirt .*, TEST ' -- \
  "$vmmap" version --libvirt-uri test:///default
expect "version rejects stray arguments" 2 stderr 'unexpected argument --bogus' -- "$vmmap" version --bogus 1
expect "--version still prints the version alone" 0 stdout '^vmmap [0-9.]+$' -- "$vmmap" --version

# --- check: a prepared node --------------------------------------------------
mkdir -p "$work/net.d" "$work/empty" "$work/state"
cat >"$work/net.d/10-vmmap.conflist" <<'JSON'
{"cniVersion": "1.0.0", "name": "vmmap", "plugins": [
  {"type": "bridge", "bridge": "vmmap0", "ipam": {"type": "host-local"}}, {"type": "loopback"}]}
JSON
cni_bin=/usr/lib/cni
fast=(--libvirt-uri test:///default --cni-conf-dir "$work/net.d" --cni-bin-dir "$cni_bin"
      --state-dir "$work/state" --min-free 1Mi --timeout 120)

# memlock is knowable: unlimited, or CAP_SYS_RESOURCE (bit 24 of CapEff).
cap_eff=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
if [[ $(ulimit -Hl) == unlimited ]] || (( (16#$cap_eff >> 24) & 1 )); then memlock_ok=1; else memlock_ok=0; fi
if ((memlock_ok)); then
  expect "memlock passes where the limit or the capability allows it" 0 stdout '^ok   memlock' -- \
    "$vmmap" check --domain-type qemu "${fast[@]}"
else
  expect "memlock fails without unlimited RLIMIT_MEMLOCK or CAP_SYS_RESOURCE, and says the fix" 1 stdout \
    "^FAIL memlock: RLIMIT_MEMLOCK $(( $(ulimit -Sl) )) KiB" 'fix: run vmmap with LimitMEMLOCK=infinity' \
    'node is NOT ready: 1 required check\(s\) failed: memlock$' -- "$vmmap" check --domain-type qemu "${fast[@]}"
fi

if [[ -e /sys/fs/cgroup/cgroup.controllers ]]; then want_cgroup='cgroup v2'; else want_cgroup='cgroup v1'; fi
expect "cgroup version as the host has it" "$((1 - memlock_ok))" stdout "^ok   cgroups: $want_cgroup at /sys/fs/cgroup" -- \
  "$vmmap" check --domain-type qemu "${fast[@]}"
expect "a cgroup root without controllers fails" 1 stdout "^FAIL cgroups: no cgroup v1 or v2 hierarchy under $work/empty" -- \
  "$vmmap" check --domain-type qemu "${fast[@]}" --cgroup-root "$work/empty"
expect "the CNI config and its plugins are found" "$((1 - memlock_ok))" stdout \
  "^ok   cni: $work/net.d/10-vmmap.conflist: plugins bridge, host-local, loopback found" -- \
  "$vmmap" check --domain-type qemu "${fast[@]}"
expect "no CNI config fails naming the directory" 1 stdout "^FAIL cni: no CNI config .* in $work/empty" 'fix: install a network plugin' -- \
  "$vmmap" check "${fast[@]}" --cni-conf-dir "$work/empty"
sed 's/"loopback"/"no-such-plugin"/' "$work/net.d/10-vmmap.conflist" >"$work/empty/00-bad.conflist"
expect "a missing plugin fails naming it" 1 stdout '^FAIL cni: .*00-bad\.conflist needs plugins not found in .*: no-such-plugin$' -- \
  "$vmmap" check "${fast[@]}" --cni-conf-dir "$work/empty"
rm "$work/empty/00-bad.conflist"

expect "a missing KVM device fails kvm domains" 1 stdout '^FAIL kvm: open /nonexistent/kvm: No such file' \
  'fix: load kvm_intel or kvm_amd.*--domain-type qemu' -- "$vmmap" check "${fast[@]}" --kvm-device /nonexistent/kvm
expect "a missing KVM device is optional for qemu domains" "$((1 - memlock_ok))" stdout \
  '^WARN kvm: open /nonexistent/kvm: .*\(optional\)$' -- \
  "$vmmap" check --domain-type qemu "${fast[@]}" --kvm-device /nonexistent/kvm
if [[ -e /dev/kvm ]]; then
  # Whether KVM_RUN works here is the machine's business; the probe must
  # answer either way (it runs isolated, under --timeout) and name the device.
  expect "the KVM probe answers about /dev/kvm" "$((1 - memlock_ok))" stdout '^(ok  |WARN|FAIL) kvm: .*/dev/kvm' -- \
    "$vmmap" check --domain-type qemu "${fast[@]}"
fi

expect "libvirt through test:///default is reachable" "$((1 - memlock_ok))" stdout \
  "^ok   libvirt: test:///default opened: libvirt ${libvirt_version//./\\.}, TEST" -- \
  "$vmmap" check --domain-type qemu "${fast[@]}"
expect "an unknown libvirt URI fails" 1 stdout '^FAIL libvirt: cannot open nosuch:///x' -- \
  "$vmmap" check --domain-type qemu "${fast[@]}" --libvirt-uri nosuch:///x
expect "too little disk fails naming the state dir" 1 stdout "^FAIL disk: [0-9]+ MiB free at $work/state" -- \
  "$vmmap" check --domain-type qemu "${fast[@]}" --min-free 1Ei
if command -v qemu-img >/dev/null; then want_img="^ok   qemu-img: $(command -v qemu-img)"; else want_img='^FAIL qemu-img'; fi
expect "qemu-img as PATH has it" "$((1 - memlock_ok))" stdout "$want_img" -- "$vmmap" check --domain-type qemu "${fast[@]}"
expect "without qemu-img in PATH the check fails" 1 stdout '^FAIL qemu-img: none of qemu-img' 'fix: install qemu-utils' -- \
  env PATH=/nonexistent "$vmmap" check --domain-type qemu "${fast[@]}"

expect "bad flag value is a usage error" 2 stderr '--domain-type="xen"' -- "$vmmap" check --domain-type xen
expect "unknown flag is a usage error" 2 stderr 'unknown flag --bogus' -- "$vmmap" check --bogus 1

echo "$checks checks, $failures failed"
((failures == 0))
