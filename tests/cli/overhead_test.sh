#!/usr/bin/env bash
# `vmmap overhead` as a process: usage and bad input (exit codes and messages),
# the RuntimeClass it prints, and the round trip that matters: a pod given the
# printed overhead renders without the "declared overhead is smaller" warning,
# one Mi less and the warning is back.
#
#   overhead_test.sh VMMAP EXAMPLES_DIR
set -u

vmmap=${1:?usage: overhead_test.sh VMMAP EXAMPLES_DIR}
examples=${2:?usage: overhead_test.sh VMMAP EXAMPLES_DIR}
[[ -x $vmmap ]] || { echo "FAIL: $vmmap is not an executable"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/cli/expect_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/expect_lib.sh"

expect "no shapes is a usage error" 2 stderr 'give --vcpus and/or --memory' -- "$vmmap" overhead
expect "--help exits 0" 0 stdout 'usage: vmmap overhead' '--tolerance' -- "$vmmap" overhead --help
expect "vCPU list item that is not a number names it" 2 stderr '--vcpus="1,x": "x" is not a whole number' -- \
  "$vmmap" overhead --vcpus 1,x
expect "bad memory quantity names flag and value" 2 stderr '--memory' '"1x"' -- \
  "$vmmap" overhead --memory 1x
expect "vCPUs beyond --max-vcpus are bad input" 1 stderr 'vCPUs 9 is outside \[1, 8\]' -- \
  "$vmmap" overhead --vcpus 9 --max-vcpus 8
expect "memory below --min-memory is bad input" 1 stderr 'memory 33554432 bytes \(32Mi\)' -- \
  "$vmmap" overhead --memory 32Mi
expect "bad class prefix is bad input" 1 stderr 'class name prefix "Big"' -- \
  "$vmmap" overhead --vcpus 1 --name-prefix Big
expect "bad handler is a usage error" 2 stderr '--handler="a b"' -- "$vmmap" overhead --vcpus 1 --handler 'a b'
expect "bad node selector is a usage error" 2 stderr '--node-selector="novalue"' -- \
  "$vmmap" overhead --vcpus 1 --node-selector novalue
expect "unknown flag is a usage error" 2 stderr 'unknown flag --bogus' -- "$vmmap" overhead --bogus 1
expect "missing pod file is bad input" 1 stderr 'no-such\.yaml: cannot open' -- \
  "$vmmap" overhead "$work/no-such.yaml"

# Volumes: each virtio-fs share adds its virtiofsd term (16Mi): 114 + 2 x 16 = 146Mi.
expect "--virtiofs-shares adds the per-share term" 0 stdout '^    memory: 146Mi$' -- \
  "$vmmap" overhead --vcpus 2 --memory 1Gi --virtiofs-shares 2
expect "--virtiofs-shares beyond 16 is a usage error" 2 stderr '--virtiofs-shares="17"' -- \
  "$vmmap" overhead --vcpus 1 --virtiofs-shares 17

# 2 vCPUs, 1Gi on kvm: 64 + 2 x 16 + 1024/512 + 16 = 114Mi without volumes; cpu = the
# emulator slice. By default a class covers the two shares every kubelet pod has (the
# service-account token; /etc/hosts and the termination log): 114 + 2 x 16 = 146Mi.
expect "one shape gives one class with the model's overhead" 0 stdout \
  '^apiVersion: node\.k8s\.io/v1$' '^kind: RuntimeClass$' '^  name: vmmap-2vcpu$' '^handler: vmmap$' \
  '^    cpu: 100m$' '^    memory: 114Mi$' -- "$vmmap" overhead --vcpus 2 --memory 1Gi --virtiofs-shares 0
expect "by default a class covers kubelet's two shares" 0 stdout '^    memory: 146Mi$' -- \
  "$vmmap" overhead --vcpus 2 --memory 1Gi
# qemu (TCG) domains add the 64Mi code cache and the 24Mi locked extra: 202Mi.
expect "TCG domains add the code cache" 0 stdout '^    memory: 202Mi$' -- \
  "$vmmap" overhead --vcpus 2 --memory 1Gi --domain-type qemu --virtiofs-shares 0
expect "--emulator-cpu sets podFixed.cpu" 0 stdout '^    cpu: 250m$' -- \
  "$vmmap" overhead --vcpus 1 --emulator-cpu 250
expect "--explain shows each term" 0 stderr 'page tables: guest 1073741824 bytes \(1Gi\) \| guest / 512' \
  'TCG code cache' 'virtiofsd: 2 virtio-fs shares' 'memory overhead: .*\(234Mi\)' -- \
  "$vmmap" overhead --explain --vcpus 2 --memory 1Gi --domain-type qemu
expect "sizes that need more than --tolerance apart get their own class" 0 stdout \
  '^  name: vmmap-1vcpu-1gi$' '^  name: vmmap-1vcpu-16gi$' -- \
  "$vmmap" overhead --vcpus 1 --memory 512Mi,1Gi,16Gi
expect "--node-selector and --handler reach the class" 0 stdout '^handler: kata-vmmap$' \
  '^    vmmap\.io/runtime: "vmmap"$' '^  - key: vmmap\.io/runtime$' '^    effect: NoSchedule$' -- \
  "$vmmap" overhead --vcpus 1 --handler kata-vmmap --node-selector vmmap.io/runtime=vmmap

# Pod files: the class is sized for the pod's own shape (2 vCPUs, 2Gi: 116Mi, and kubelet's
# two shares: 148Mi).
expect "a pod file gives its own shape" 0 stdout '^  name: vmmap-2vcpu$' '^    memory: 148Mi$' -- \
  "$vmmap" overhead "$examples/guaranteed-pod.yaml"
# A pod with more volumes than the default brings its own count: 4 shares, 116 + 4 x 16.
sed 's/^  containers:$/  volumes: [{name: a, emptyDir: {}}, {name: b, secret: {secretName: b}}]\n  containers:/' \
  "$examples/guaranteed-pod.yaml" >"$work/volumes-pod.yaml"
sed -i 's/^  - name: \(.*\)$/  - name: \1\n    volumeMounts: [{name: a, mountPath: \/a}, {name: b, mountPath: \/b}]/' \
  "$work/volumes-pod.yaml"
expect "a pod's own volumes count" 0 stdout '^    memory: 180Mi$' -- "$vmmap" overhead "$work/volumes-pod.yaml"

# The warning fires only when it is true.
memory=$("$vmmap" overhead "$examples/guaranteed-pod.yaml" | sed -n 's/^    memory: \([0-9]*\)Mi$/\1/p')
with_overhead() {  # MEMORY_MI
  sed "s/^  runtimeClassName: vmmap-2vcpu-8gi .*$/  runtimeClassName: vmmap-2vcpu\n  overhead:\n    cpu: 100m\n    memory: $1Mi/" \
    "$examples/guaranteed-pod.yaml" >"$work/pod.yaml"
}
with_overhead "$memory"
expect "pod with the printed overhead renders without a warning" 0 stdout '<domain' -- \
  "$vmmap" render "$work/pod.yaml"
if [[ -s $work/err ]]; then fail "no warning with the printed overhead" "stderr: $(cat "$work/err")"; else pass "no warning with the printed overhead"; fi
with_overhead $((memory - 1))
expect "one Mi less and the warning is back" 0 stderr 'under-counts this pod by 1048576 bytes' \
  "vmmap overhead --vcpus 2 --memory 2048Mi" -- "$vmmap" render "$work/pod.yaml"
expect "a pod without overhead is warned" 0 stderr 'declares memory overhead 0 bytes' -- \
  "$vmmap" render "$examples/guaranteed-pod.yaml"

echo "$checks checks, $failures failed"
((failures == 0))
