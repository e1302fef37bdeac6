#!/usr/bin/env bash
# Scrapes /metrics from a running vmmap-serve (libvirt's test driver, so no
# QEMU): CRI calls made over the real socket appear with their count, code
# and latency histogram; the per-pod families are declared.
#
#   metrics_scrape_test.sh VMMAP_SERVE
set -u
serve=${1:?usage: metrics_scrape_test.sh VMMAP_SERVE}
# The state dir's parents must be traversable by QEMU's user (0711), unlike mktemp -d's 0700.
work=/tmp/vmmap-metrics-test.$$
mkdir -p -m 0711 "$work"
pid=
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=tests/cli/expect_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cli/expect_lib.sh"

port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/cni"
"$serve" --socket "$work/vmmap.sock" --state-dir "$work/state" --libvirt-uri test:///default \
  --domain-type qemu --no-create-partition --cni-conf-dir "$work/cni" \
  --metrics-address "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1200); do  # the server's start is not timed; this only bounds a hang (2 min)
  [[ -S $work/vmmap.sock ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [[ ! -S $work/vmmap.sock ]]; then
  echo "FAIL: vmmap-serve did not listen: $(cat "$work/serve.log")"
  exit 1
fi

# Three Version calls and one PodSandboxStatus of an unknown id, over the CRI
# socket, as raw protobuf (an empty VersionRequest is zero bytes; field 1 of
# PodSandboxStatusRequest is the id).
/usr/bin/python3 - "$work/vmmap.sock" <<'PY' >"$work/calls.log" 2>&1
import sys, grpc
channel = grpc.insecure_channel("unix://" + sys.argv[1])
version = channel.unary_unary("/runtime.v1.RuntimeService/Version")
for _ in range(3):
    version(b"", timeout=120)
status = channel.unary_unary("/runtime.v1.RuntimeService/PodSandboxStatus")
try:
    status(b"\x0a\x07missing", timeout=120)
except grpc.RpcError as e:
    print("PodSandboxStatus:", e.code().name)
PY
expect "the CRI calls were answered" 0 stdout 'PodSandboxStatus: NOT_FOUND' -- cat "$work/calls.log"

expect "/metrics counts the calls by method and code" 0 stdout \
  '^vmmap_cri_calls_total\{code="OK",method="Version"\} 3$' \
  '^vmmap_cri_calls_total\{code="NOT_FOUND",method="PodSandboxStatus"\} 1$' \
  '^vmmap_cri_call_duration_seconds_count\{method="Version"\} 3$' \
  '^vmmap_cri_call_duration_seconds_bucket\{method="Version",le="120"\} 3$' \
  '^# TYPE vmmap_pod_cpu_throttled_seconds_total counter$' \
  '^# TYPE vmmap_pod_memory_hard_limit_bytes gauge$' -- \
  curl -sf "http://127.0.0.1:$port/metrics"
expect "the endpoint is on loopback only" 0 stdout "127\.0\.0\.1:$port" -- ss -ltnH "sport = :$port"

expect "a bad --metrics-address is a clear error" 1 stderr 'metrics-address="nonsense": expected HOST:PORT' -- \
  "$serve" --socket "$work/b.sock" --state-dir "$work/state2" --libvirt-uri test:///default --domain-type qemu \
  --no-create-partition --metrics-address nonsense

echo "$checks checks, $failures failed"
((failures == 0))
