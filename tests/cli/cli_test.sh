#!/usr/bin/env bash
# End-to-end checks of `vmmap render` as a process: exit codes AND messages.
#
#   cli_test.sh VMMAP EXAMPLES_DIR behaviour   CLI behaviour (bad input, usage, stdin, --output, --explain)
#   cli_test.sh VMMAP EXAMPLES_DIR examples    render every example, validate with virt-xml-validate
#                                              (exit 77 = skipped when virt-xml-validate is missing)
set -u

vmmap=${1:?usage: cli_test.sh VMMAP EXAMPLES_DIR behaviour|examples}
examples=${2:?usage: cli_test.sh VMMAP EXAMPLES_DIR behaviour|examples}
mode=${3:-behaviour}

[[ -x $vmmap ]] || { echo "FAIL: $vmmap is not an executable"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# shellcheck source=tests/cli/expect_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/expect_lib.sh"

# A minimal pod with one extra line under metadata.annotations and a CPU limit.
pod_with_annotation() {  # KEY VALUE
  cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: annotated
  namespace: default
  annotations:
    $1: "$2"
spec:
  containers:
  - name: vm
    resources:
      limits:
        cpu: "2"
        memory: 512Mi
EOF
}

run_behaviour() {
  local good=$examples/burstable-2vcpu.yaml

  # --- malformed YAML: exit 1, message names line and column ---------------
  printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  uid: y: z\nspec:\n  containers:\n  - name: vm\n' \
    >"$work/malformed.yaml"
  expect "malformed YAML names line and column" 1 stderr \
    'malformed\.yaml: line 5, column [0-9]+: malformed YAML' -- \
    "$vmmap" render "$work/malformed.yaml"
  printf 'kind: Pod\nmetadata:\n  name: [x\n' >"$work/unclosed.yaml"
  expect "unclosed flow sequence names a line" 1 stderr \
    'line 4, column 1: malformed YAML: did not find expected .,. or .\]' -- \
    "$vmmap" render "$work/unclosed.yaml"

  # --- bad quantity: exit 1, names the field and the value ----------------
  sed 's/cpu: 1500m/cpu: "1.5x"/' "$good" >"$work/badcpu.yaml"
  expect "bad CPU quantity names field and value" 1 stderr \
    'spec\.containers\[0\]\.resources\.limits\.cpu' '"1\.5x"' 'line [0-9]+, column [0-9]+' -- \
    "$vmmap" render "$work/badcpu.yaml"
  sed 's/memory: 512Mi/memory: "-1Gi"/' "$good" >"$work/badmem.yaml"
  expect "negative memory quantity names field and value" 1 stderr \
    'spec\.containers\[0\]\.resources\.(requests|limits)\.memory' '-1Gi' -- \
    "$vmmap" render "$work/badmem.yaml"

  # --- vmmap.io/vcpus must be a whole number in [1, max-vcpus] ------------
  local v
  for v in 0 -1 2.5 999; do
    pod_with_annotation vmmap.io/vcpus "$v" >"$work/vcpus.yaml"
    expect "vmmap.io/vcpus=\"$v\" rejected" 1 stderr \
      "annotation vmmap\\.io/vcpus=\"${v//./\\.}\"" 'whole number|between 1 and' -- \
      "$vmmap" render "$work/vcpus.yaml"
  done
  pod_with_annotation vmmap.io/vcpus 999 >"$work/vcpus.yaml"
  expect "vcpus 999 accepted with --max-vcpus 1000" 0 stdout \
    '<vcpu placement="static">999</vcpu>' -- \
    "$vmmap" render --max-vcpus 1000 "$work/vcpus.yaml"
  pod_with_annotation VirtletVCPUCount 0 >"$work/virtlet.yaml"
  expect "VirtletVCPUCount=\"0\" rejected" 1 stderr 'annotation VirtletVCPUCount="0"' -- \
    "$vmmap" render "$work/virtlet.yaml"
  { pod_with_annotation vmmap.io/vcpus 3 | sed 's/^    vmmap.io\/vcpus: "3"$/&\n    VirtletVCPUCount: "2"/'; } \
    >"$work/disagree.yaml"
  expect "vmmap.io/vcpus and VirtletVCPUCount must agree" 1 stderr 'disagree' -- \
    "$vmmap" render "$work/disagree.yaml"
  pod_with_annotation vmmap.io/emulator-cpu 5m >"$work/emu.yaml"
  expect "vmmap.io/emulator-cpu below 10m rejected" 1 stderr \
    'annotation vmmap\.io/emulator-cpu="5m"' -- "$vmmap" render "$work/emu.yaml"

  # --- usage errors: exit 2 -------------------------------------------------
  expect "unknown flag is a usage error" 2 stderr 'unknown flag --bogus' 'usage: vmmap render' -- \
    "$vmmap" render --bogus 1 "$good"
  expect "no input file is a usage error" 2 stderr 'no input file' -- "$vmmap" render
  expect "two input files is a usage error" 2 stderr 'more than one input file' -- \
    "$vmmap" render "$good" "$good"
  expect "bad node flag value is a usage error" 2 stderr '--cgroup-version="3"' -- \
    "$vmmap" render --cgroup-version 3 "$good"
  expect "missing file is bad input" 1 stderr 'no-such-file\.yaml: cannot open' -- \
    "$vmmap" render "$work/no-such-file.yaml"

  # --- '-' reads stdin ------------------------------------------------------
  "$vmmap" render "$good" >"$work/from-file.xml" 2>/dev/null
  stdin_file=$good
  expect "- reads stdin" 0 stdout '<name>vmmap-shop-web-[0-9a-f]{12}</name>' -- "$vmmap" render -
  stdin_file=/dev/null
  if [[ -s $work/from-file.xml ]] && cmp -s "$work/out" "$work/from-file.xml"; then
    pass "stdin and file render the same XML"
  else
    fail "stdin and file render the same XML" "$(diff "$work/from-file.xml" "$work/out" | head -20)"
  fi
  expect "empty stdin is bad input" 1 stderr 'no pod found' -- "$vmmap" render -

  # --- kubelet's mounts: the token and the files share (/etc/hosts, termination log) ---
  expect "render shares kubelet's mounts into the VM" 0 stdout \
    '<source dir="/var/lib/kubelet/pods/[^"]*/volumes/kubernetes.io~projected/kube-api-access" />' \
    '<source dir="/var/lib/vmmap/volumes/CONTAINER_ID/files" />' \
    -- "$vmmap" render "$good"
  local with_mounts without_mounts
  with_mounts=$(grep -c '<filesystem ' "$work/out")
  local hard_with hard_without
  hard_with=$(sed -n 's|.*<hard_limit unit=.KiB.>\([0-9]*\)</hard_limit>.*|\1|p' "$work/out")
  expect "--no-kubelet-mounts plans CPU and memory only" 0 stdout '<domain' -- \
    "$vmmap" render --no-kubelet-mounts "$good"
  without_mounts=$(grep -c '<filesystem ' "$work/out")
  hard_without=$(sed -n 's|.*<hard_limit unit=.KiB.>\([0-9]*\)</hard_limit>.*|\1|p' "$work/out")
  if [[ $with_mounts == 2 && $without_mounts == 0 && -n $hard_with && -n $hard_without ]] &&
    ((hard_with > hard_without)); then
    pass "two shares (token, files) and each adds to hard_limit ($hard_without -> $hard_with KiB)"
  else
    fail "two shares (token, files) and each adds to hard_limit" \
      "filesystems: $with_mounts / $without_mounts, hard_limit: $hard_with / $hard_without"
  fi

  # --- multi-document: one domain per pod; --output DIR writes one per pod ---
  local multi=$examples/multi-document.yaml
  expect "multi-document renders one domain per pod" 0 stdout '<domain' -- "$vmmap" render "$multi"
  local domains names
  domains=$(grep -c '^<domain ' "$work/out")
  names=$(sed -n 's|^  <name>\(.*\)</name>$|\1|p' "$work/out" | sort)
  if [[ $domains == 3 && $(wc -l <<<"$names") == 3 ]]; then
    pass "multi-document: 3 pods, 3 domains"
  else
    fail "multi-document: 3 pods, 3 domains" "got $domains domains: $names"
  fi
  expect "--output DIR writes one file per pod" 0 stderr "wrote $work/domains/vmmap-" -- \
    "$vmmap" render --output "$work/domains" "$multi"
  local written
  written=$(cd "$work/domains" 2>/dev/null && ls | sed 's/\.xml$//' | sort)
  if [[ -n $names && $written == "$names" ]] && [[ ! -s $work/out ]]; then
    pass "--output files are named after the domains, nothing on stdout"
  else
    fail "--output files are named after the domains, nothing on stdout" "names: $names" \
      "written: $written" "stdout bytes: $(wc -c <"$work/out")"
  fi
  local f bad=0 files=()
  shopt -s nullglob
  files=("$work"/domains/*.xml)
  shopt -u nullglob
  ((${#files[@]} == 3)) || bad=1
  for f in "${files[@]}"; do
    grep -q "<name>$(basename "$f" .xml)</name>" "$f" || bad=1
  done
  if ((bad == 0)); then pass "--output: each file holds its own domain"; else
    fail "--output: each file holds its own domain"; fi
  # A bad pod anywhere writes nothing.
  { cat "$multi"; printf -- '---\n'; pod_with_annotation vmmap.io/vcpus 0; } >"$work/multi-bad.yaml"
  expect "a bad pod in a multi-document file fails the whole render" 1 stderr 'vmmap\.io/vcpus="0"' -- \
    "$vmmap" render --output "$work/domains-bad" "$work/multi-bad.yaml"
  if [[ -z $(ls -A "$work/domains-bad" 2>/dev/null) ]]; then
    pass "nothing written when one pod is bad"
  else
    fail "nothing written when one pod is bad" "$(ls "$work/domains-bad")"
  fi

  # --- --explain: derivation on stderr, XML still on stdout -----------------
  expect "--explain mentions global_quota and hard_limit" 0 stderr \
    'cputune/global_quota = 160000' 'memtune/hard_limit = [0-9]+ KiB' -- \
    "$vmmap" render --explain "$good"
  if grep -q '^<domain type="kvm">' "$work/out" && ! grep -q 'global_quota =' "$work/out"; then
    pass "--explain keeps stdout pure XML"
  else
    fail "--explain keeps stdout pure XML" "$(head -3 "$work/out")"
  fi
}

run_examples() {
  local validate=1
  if ! command -v virt-xml-validate >/dev/null 2>&1; then
    echo "note: virt-xml-validate not installed; rendering only"
    validate=0
  fi
  shopt -s nullglob
  local files=("$examples"/*.yaml) f out n
  mkdir -p "$work/examples"  # render --output makes only the last directory
  ((${#files[@]} > 0)) || { fail "examples found in $examples"; return; }
  for f in "${files[@]}"; do
    local name
    name=$(basename "$f" .yaml)
    out=$work/examples/$name
    if ! "$vmmap" render --output "$out" "$f" >"$work/out" 2>"$work/err"; then
      fail "render $name" "$(head -c 600 "$work/err")"
      continue
    fi
    local xmls=("$out"/*.xml)
    n=$(grep -c '^kind:' "$f")
    if ((${#xmls[@]} != n)); then
      fail "render $name" "$n pods in the file but ${#xmls[@]} domains written"
      continue
    fi
    pass "render $name ($n domain(s))"
    ((validate)) || continue
    local x
    for x in "${xmls[@]}"; do
      if v=$(virt-xml-validate "$x" domain 2>&1); then
        pass "virt-xml-validate $name/$(basename "$x")"
      else
        fail "virt-xml-validate $name/$(basename "$x")" "$v"
      fi
    done
  done
  if ((!validate && failures == 0)); then
    echo "SKIP: $checks renders ok, validation skipped (no virt-xml-validate)"
    exit 77
  fi
}

case $mode in
  behaviour) run_behaviour ;;
  examples) run_examples ;;
  *) echo "unknown mode $mode"; exit 2 ;;
esac

echo "$checks checks, $failures failed"
((failures == 0))
