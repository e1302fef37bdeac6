#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install what is missing, build,
# and run the main job: render an example pod to libvirt domain XML, explain
# every number, and check the XML against libvirt's own schema.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
example="${1:-$root/examples/burstable-2vcpu.yaml}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$root/build/vmmap" render --explain "$example" | tee "$out/domain.xml"
virt-xml-validate "$out/domain.xml" domain
