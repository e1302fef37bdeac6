#!/usr/bin/env bash
# `vmmap annotate` as a process: set, suggest, --in-place, and refusals.
#   annotate_test.sh VMMAP EXAMPLES_DIR
set -u
vmmap=${1:?usage: annotate_test.sh VMMAP EXAMPLES_DIR}
examples=${2:?usage: annotate_test.sh VMMAP EXAMPLES_DIR}
[[ -x $vmmap ]] || { echo "FAIL: $vmmap is not an executable"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/cli/expect_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/expect_lib.sh"

expect "--vcpus sets the annotation on a workload's template" 0 stdout \
  '^        vmmap\.io/vcpus: "4"$' -- "$vmmap" annotate --vcpus 4 "$examples/deployment.yaml"
# Only the annotation's line differs.
"$vmmap" annotate --vcpus 4 "$examples/deployment.yaml" >"$work/d.yaml"
changed=$(diff "$examples/deployment.yaml" "$work/d.yaml" | grep -c '^[<>]')
if [[ $changed == 2 ]]; then pass "the rest of the file is byte for byte"; else fail "the rest of the file is byte for byte" "$(diff "$examples/deployment.yaml" "$work/d.yaml")"; fi
expect "the annotated pod renders with 4 vCPUs" 0 stdout '<vcpu placement=.static.>4</vcpu>' -- "$vmmap" render "$work/d.yaml"

cp "$examples/guaranteed-pod.yaml" "$work/pod.yaml"
chmod 640 "$work/pod.yaml"
expect "--in-place rewrites the file" 0 stderr 'pod.yaml: 1 pod\(s\) set to 3 vCPUs' -- \
  "$vmmap" annotate --vcpus 3 --in-place "$work/pod.yaml"
expect "… and the file now asks for 3" 0 stdout 'vmmap\.io/vcpus: "3"' -- cat "$work/pod.yaml"
expect "… keeping its mode" 0 stdout '^640$' -- stat -c %a "$work/pod.yaml"

expect "without --vcpus it suggests a count and says why" 0 stdout \
  '^Pod shop/db: suggest --vcpus 2: CPU limit 2000m → ceil = 2 vCPUs: the fewest vCPUs' -- \
  "$vmmap" annotate "$examples/guaranteed-pod.yaml"
expect "a pod without CPU limit is told to set one" 0 stdout 'no CPU limit, so its VM gets 1 vCPU' -- \
  "$vmmap" annotate "$examples/multi-document.yaml"
expect "vCPUs beyond --max-vcpus are a usage error" 2 stderr '--vcpus="17": expected a whole number in \[1, 16\]' -- \
  "$vmmap" annotate --vcpus 17 "$examples/guaranteed-pod.yaml"
expect "a disagreeing VirtletVCPUCount is refused" 1 stderr 'VirtletVCPUCount="4" disagrees with --vcpus 3' -- \
  "$vmmap" annotate --vcpus 3 "$examples/virtlet-vcpus.yaml"
expect "--in-place needs --vcpus" 2 stderr '--in-place needs --vcpus' -- "$vmmap" annotate --in-place "$work/pod.yaml"
expect "a file that is not a pod is bad input" 1 stderr 'kind' -- "$vmmap" annotate --vcpus 2 "$examples/cri/runtimeclass.yaml"

echo "$checks checks, $failures failed"
((failures == 0))
