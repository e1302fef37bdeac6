#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install what is missing, build,
# and run the main job: render an example pod to libvirt domain XML, explain
# every number, check the XML against libvirt's own schema, then serve the CRI
# on /run/vmmap/vmmap.sock (VMMAP_QUICKSTART_NO_SERVE=1 stops after the render).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
example="${1:-$root/examples/burstable-2vcpu.yaml}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$root/build/vmmap" render --explain "$example" | tee "$out/domain.xml"
virt-xml-validate "$out/domain.xml" domain
if [ "${VMMAP_QUICKSTART_NO_SERVE:-0}" != 1 ]; then
  rm -rf "$out"
  echo "quickstart: serving the CRI on /run/vmmap/vmmap.sock (Ctrl-C to stop)" >&2
  exec "$root/build/vmmap" serve
fi
