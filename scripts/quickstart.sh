#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install what is missing, build,
# and run the main job: render an example pod to libvirt domain XML, explain
# every number, check the XML against libvirt's own schema, then serve the CRI
# on /run/vmmap/vmmap.sock (VMMAP_QUICKSTART_NO_SERVE=1 stops after the render).
# A pod that is not hostNetwork needs a CNI config in /etc/cni/net.d (or
# --cni-conf-dir); quickstart never writes one unless asked:
# VMMAP_QUICKSTART_INSTALL_CNI=1 copies examples/cni/10-vmmap.conflist there
# when the directory has no config yet (docs/network.md).
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
  cni_dir=/etc/cni/net.d
  if ! ls "$cni_dir"/*.conflist "$cni_dir"/*.conf "$cni_dir"/*.json >/dev/null 2>&1; then
    if [ "${VMMAP_QUICKSTART_INSTALL_CNI:-0}" = 1 ]; then
      mkdir -p "$cni_dir"
      install -m 0644 "$root/examples/cni/10-vmmap.conflist" "$cni_dir/10-vmmap.conflist"
      echo "quickstart: installed $cni_dir/10-vmmap.conflist (VMMAP_QUICKSTART_INSTALL_CNI=1)" >&2
    else
      echo "quickstart: no CNI config in $cni_dir: NetworkReady stays false and pods that are" \
        "not hostNetwork cannot start. Copy examples/cni/10-vmmap.conflist there (or rerun" \
        "with VMMAP_QUICKSTART_INSTALL_CNI=1 to have quickstart do it); see docs/network.md." >&2
    fi
  fi
  echo "quickstart: serving the CRI on /run/vmmap/vmmap.sock (Ctrl-C to stop)" >&2
  exec "$root/build/vmmap" serve
fi
