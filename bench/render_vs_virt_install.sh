#!/usr/bin/env bash
# Times the whole `vmmap render pod.yaml` process against
# `virt-install --print-xml` for the same resources (2 vCPUs, 512 MiB), in one
# run, and prints both median and mean times per run and the ratios (target:
# vmmap >= 100x faster, judged on the medians: on a shared machine a ~1 ms
# process's mean is set by the few runs that waited for a CPU, e.g. 1.7 ms
# mean vs 0.7 ms min over 200 runs at load 4, while its median stays put).
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
  vmmap_med=$(awk -F, '$1 == "vmmap render" { print $4 }' "$work/times.csv")
  virt_med=$(awk -F, '$1 == "virt-install --print-xml" { print $4 }' "$work/times.csv")
else
  method="bash loop with date +%s%N (includes bash's fork per run; install hyperfine), $runs runs each, 3 warm-up; no median"
  vmmap_s=$(loop_mean "${vmmap_cmd[@]}")
  virt_s=$(loop_mean "${virt_cmd[@]}")
  vmmap_med=$vmmap_s
  virt_med=$virt_s
fi

awk -v a="$vmmap_s" -v b="$virt_s" -v am="$vmmap_med" -v bm="$virt_med" -v m="$method" 'BEGIN {
  verdict = "NOT met"
  if (bm / am >= 100) verdict = "met"
  printf "method:                    %s\n", m
  printf "vmmap render pod.yaml:     median %9.3f ms, mean %9.3f ms per run\n", am * 1000, a * 1000
  printf "virt-install --print-xml:  median %9.3f ms, mean %9.3f ms per run\n", bm * 1000, b * 1000
  printf "ratio:                     vmmap is %.1fx faster on the medians (%.1fx on the means; target >= 100x on the medians: %s)\n", bm / am, b / a, verdict
}'
