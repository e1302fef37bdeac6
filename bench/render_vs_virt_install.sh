#!/usr/bin/env bash
# Times the whole `vmmap render pod.yaml` process against
# `virt-install --print-xml` for the same resources (2 vCPUs, 512 MiB), in one
# run, and prints both mean times per run and the ratio (target: vmmap >= 100x
# faster).
#
#   bench/render_vs_virt_install.sh BUILD_DIR [RUNS]     (RUNS defaults to 50)
#
# Uses hyperfine when installed (Debian package "hyperfine"); otherwise, or
# with VMMAP_BENCH_NO_HYPERFINE=1, a bash loop timed with date +%s%N.
set -euo pipefail

build=${1:?usage: render_vs_virt_install.sh BUILD_DIR [RUNS]}
runs=${2:-50}
vmmap=$build/vmmap
[[ -x $vmmap ]] || { echo "error: $vmmap not found; build first" >&2; exit 2; }
command -v virt-install >/dev/null || { echo "error: virt-install not installed" >&2; exit 2; }
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "error: RUNS must be a positive integer" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/pod.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: bench
  namespace: default
  uid: 0b000000-0000-4000-8000-000000000001
  annotations:
    vmmap.io/vcpus: "2"
spec:
  overhead:
    memory: 256Mi
  containers:
  - name: vm
    image: file:///var/lib/vmmap/images/debian.qcow2
    resources:
      limits:
        cpu: "2"
        memory: 512Mi
EOF

vmmap_cmd=("$vmmap" render "$work/pod.yaml")
# virt-install 4.1: --osinfo is required unless the OS can be detected; the
# test driver needs no daemon; --disk none and --boot hd need no media.
virt_cmd=(virt-install --print-xml --connect test:///default --name x --memory 512 --vcpus 2
  --boot hd --disk none --noautoconsole --osinfo generic)

# Both must work and agree on the resources before timing them.
"${vmmap_cmd[@]}" >"$work/vmmap.xml" 2>"$work/vmmap.err" ||
  { echo "error: vmmap render failed:" >&2; cat "$work/vmmap.err" >&2; exit 1; }
"${virt_cmd[@]}" >"$work/virt.xml" 2>"$work/virt.err" ||
  { echo "error: virt-install failed:" >&2; cat "$work/virt.err" >&2; exit 1; }
grep -q '<memory unit="KiB">524288</memory>' "$work/vmmap.xml" &&
  grep -q '<vcpu placement="static">2</vcpu>' "$work/vmmap.xml" &&
  grep -q '<memory>524288</memory>' "$work/virt.xml" && grep -q '<vcpu>2</vcpu>' "$work/virt.xml" ||
  { echo "error: the two commands do not describe the same 2 vCPU / 512 MiB domain" >&2; exit 1; }

# Mean seconds per run of "$@" over $runs runs (after 3 warm-up runs).
loop_mean() {
  local i start end
  for i in 1 2 3; do "$@" >/dev/null 2>&1; done
  start=$(date +%s%N)
  for ((i = 0; i < runs; i++)); do "$@" >/dev/null 2>&1; done
  end=$(date +%s%N)
  awk -v ns=$((end - start)) -v n="$runs" 'BEGIN { printf "%.9f", ns / n / 1e9 }'
}

if command -v hyperfine >/dev/null && [[ -z ${VMMAP_BENCH_NO_HYPERFINE:-} ]]; then
  method="hyperfine $(hyperfine --version | awk '{print $2}'), $runs runs each, 3 warm-up"
  # -N: no intermediate shell, so the shell's startup is not in either figure.
  hyperfine -N --style basic --warmup 3 --runs "$runs" --export-csv "$work/times.csv" \
    -n "vmmap render" "$(printf '%q ' "${vmmap_cmd[@]}")" \
    -n "virt-install --print-xml" "$(printf '%q ' "${virt_cmd[@]}")" >&2
  # CSV columns: command,mean,stddev,median,user,system,min,max (seconds).
  vmmap_s=$(awk -F, '$1 == "vmmap render" { print $2 }' "$work/times.csv")
  virt_s=$(awk -F, '$1 == "virt-install --print-xml" { print $2 }' "$work/times.csv")
else
  method="bash loop with date +%s%N, $runs runs each, 3 warm-up"
  vmmap_s=$(loop_mean "${vmmap_cmd[@]}")
  virt_s=$(loop_mean "${virt_cmd[@]}")
fi

awk -v a="$vmmap_s" -v b="$virt_s" -v m="$method" 'BEGIN {
  ratio = b / a
  verdict = "NOT met"
  if (ratio >= 100) verdict = "met"
  printf "method:                    %s\n", m
  printf "vmmap render pod.yaml:     %10.3f ms per run\n", a * 1000
  printf "virt-install --print-xml:  %10.3f ms per run\n", b * 1000
  printf "ratio:                     vmmap is %.1fx faster (target >= 100x: %s)\n", ratio, verdict
}'
