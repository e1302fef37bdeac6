#!/usr/bin/env bash
# Runs virt-xml-validate FILE domain over every golden XML in DIR.
# Exit 0: all valid; 1: one or more invalid; 77: virt-xml-validate missing (ctest SKIP).
set -u
dir=${1:?usage: validate_goldens.sh GOLDEN_DIR}
if ! command -v virt-xml-validate >/dev/null 2>&1; then
  echo "SKIP: virt-xml-validate not installed (Debian: libvirt-clients)"
  exit 77
fi
shopt -s nullglob
files=("$dir"/*.xml)
if ((${#files[@]} == 0)); then
  echo "FAIL: no golden XML in $dir"
  exit 1
fi
failed=0
for f in "${files[@]}"; do
  if out=$(virt-xml-validate "$f" domain 2>&1); then
    echo "ok   $(basename "$f")"
  else
    echo "FAIL $(basename "$f"):"
    echo "$out" | sed 's/^/     /'
    failed=$((failed + 1))
  fi
done
echo "${#files[@]} goldens, $failed invalid"
((failed == 0))
