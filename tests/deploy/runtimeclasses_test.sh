#!/usr/bin/env bash
# deploy/runtimeclasses.yaml is exactly what `vmmap overhead` prints today for
# the command recorded on its second line: a change to the overhead model
# that is not regenerated into the shipped classes fails here.
#
#   runtimeclasses_test.sh VMMAP DEPLOY_DIR
set -euo pipefail
vmmap=${1:?usage: runtimeclasses_test.sh VMMAP DEPLOY_DIR}
shipped=${2:?usage: runtimeclasses_test.sh VMMAP DEPLOY_DIR}/runtimeclasses.yaml

command_line=$(sed -n '2s/^#   vmmap overhead //p' "$shipped")
if [[ -z $command_line ]]; then
  echo "FAIL: line 2 of $shipped does not record the 'vmmap overhead' command"
  exit 1
fi
read -r -a args <<<"$command_line"
fresh=$(mktemp)
trap 'rm -f "$fresh"' EXIT
"$vmmap" overhead "${args[@]}" >"$fresh"
if ! diff -u "$shipped" "$fresh"; then
  echo "FAIL: $shipped is stale; regenerate it with:"
  echo "  build/vmmap overhead $command_line > deploy/runtimeclasses.yaml"
  exit 1
fi
echo "ok   $shipped matches 'vmmap overhead $command_line' ($(grep -c '^kind: RuntimeClass$' "$fresh") classes)"
echo "1 passed, 0 failed"
