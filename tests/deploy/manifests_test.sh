#!/usr/bin/env bash
# deploy/ against real tools: every Kubernetes manifest validates against the
# API schema (npm kubernetes-models) and has no field the API lacks (the
# official Python client); the systemd unit passes `systemd-analyze verify`
# and keeps what a node needs. Broken copies must fail, so the checks can.
#
#   manifests_test.sh SOURCE_DIR VMMAP
set -u
src=${1:?usage: manifests_test.sh SOURCE_DIR VMMAP}
vmmap=${2:?usage: manifests_test.sh SOURCE_DIR VMMAP}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools=${VMMAP_MANIFEST_TOOLS:-/opt/vmmap-tools/manifest-check}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/cli/expect_lib.sh
source "$here/../cli/expect_lib.sh"

if [[ ! -f $tools/node_modules/kubernetes-models/package.json ]] || ! /usr/bin/python3 -c 'import kubernetes' 2>/dev/null ||
   ! command -v systemd-analyze >/dev/null; then
  echo "FAIL: the validators are not installed (kubernetes-models in $tools, python3-kubernetes, systemd-analyze): run scripts/install-deps.sh"
  exit 1
fi
manifests=("$src"/deploy/*.yaml "$src"/examples/cri/runtimeclass.yaml)

expect "every manifest validates against the Kubernetes schema" 0 stdout '^ok   .*DaemonSet vmmap' \
  '^ok   .*RuntimeClass vmmap-2vcpu-8gi' -- node "$here/validate_manifests.mjs" "$tools" "${manifests[@]}"
if grep -q '^FAIL' "$work/out"; then fail "no manifest fails the schema" "$(grep '^FAIL' "$work/out")"; fi
expect "no manifest has a field the API lacks" 0 stdout '^ok   .*DaemonSet vmmap.*V1DaemonSet' -- \
  /usr/bin/python3 "$here/unknown_fields.py" "${manifests[@]}"

sed 's/type: CharDevice/type: CharDev/; s/cpu: 100m/cpu: lots/' "$src/deploy/daemonset.yaml" >"$work/bad-schema.yaml"
expect "a bad quantity and enum fail the schema" 1 stdout 'requests/cpu must match format "quantity"' \
  'hostPath/type must be equal to one of the allowed values' -- \
  node "$here/validate_manifests.mjs" "$tools" "$work/bad-schema.yaml"
sed 's/^      hostPID: true/      hostPid: true/' "$src/deploy/daemonset.yaml" >"$work/bad-field.yaml"
expect "a misspelt field is found" 1 stdout 'not API fields: spec\.template\.spec\.hostPid$' -- \
  /usr/bin/python3 "$here/unknown_fields.py" "$work/bad-field.yaml"

# The unit as systemd reads it, with ExecStart pointing at this build.
unit=$work/vmmap.service
sed "s#/usr/local/bin/vmmap #$vmmap #" "$src/deploy/vmmap.service" >"$unit"
expect "systemd-analyze verify runs on the unit" 0 stderr '' -- systemd-analyze verify "$unit"
if [[ -s $work/err ]]; then fail "systemd-analyze has no complaint" "$(cat "$work/err")"; else pass "systemd-analyze has no complaint"; fi
for key in LimitMEMLOCK=infinity KillMode=process Delegate=yes Restart=always 'Before=kubelet.service'; do
  expect "the unit sets $key" 0 stdout "^$key\$" -- grep -x "$key" "$unit"
done
sed 's/^KillMode=process/KillMode=proces/' "$unit" >"$work/bad.service"
expect "systemd-analyze rejects a bad value" 0 stderr 'Failed to parse kill mode' -- systemd-analyze verify "$work/bad.service"

echo "$checks checks, $failures failed"
((failures == 0))
